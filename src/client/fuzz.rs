pub fn fuzz_client(_data: &[u8]) {}
