#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ftp_proto_fuzz::command_round_trip(data));
