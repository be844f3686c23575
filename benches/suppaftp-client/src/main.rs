//! `suppaftp-client HOST:PORT PATH`: downloads PATH anonymously in binary mode, passive,
//! to nowhere, and prints the byte count.

use std::io;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(address), Some(path)) = (args.next(), args.next()) else {
        return Err("usage: suppaftp-client HOST:PORT PATH".into());
    };
    let mut ftp = suppaftp::FtpStream::connect(address)?;
    ftp.login("anonymous", "bench@")?;
    ftp.transfer_type(suppaftp::types::FileType::Binary)?;
    let bytes = ftp.retr(&path, |reader| {
        io::copy(reader, &mut io::sink()).map_err(suppaftp::FtpError::ConnectionError)
    })?;
    ftp.quit()?;
    println!("{bytes}");
    Ok(())
}
