//! The tokio-util codecs over a real async stream: bad lines become items, the stream
//! goes on, and both directions interoperate.
#![cfg(feature = "tokio")]

use ftp_proto::codec::{ClientCodec, ServerCodec};
use ftp_proto::{Command, CommandError, Pathname, Reply, ReplyCode, ReplyError};
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio_util::codec::{FramedRead, FramedWrite};

#[tokio::test]
async fn server_codec_answers_bad_lines_and_goes_on() {
    let (mut client, server) = tokio::io::duplex(64);
    let mut commands = FramedRead::new(server, ServerCodec::with_max_line_length(32));
    let writer = tokio::spawn(async move {
        client
            .write_all(b"USER anonymous\r\nPROT X\r\n")
            .await
            .unwrap();
        // An over-long line, sent in pieces larger than the duplex buffer.
        client.write_all(&[b'A'; 1000]).await.unwrap();
        client.write_all(b"\r\nRETR a file\r\nNOOP").await.unwrap();
        // The last line has no line end when the stream closes: it is dropped.
    });
    let mut items = Vec::new();
    while let Some(item) = commands.next().await {
        items.push(item.unwrap());
    }
    writer.await.unwrap();
    assert_eq!(
        items,
        vec![
            Ok(Command::User("anonymous".into())),
            Err(CommandError::UnsupportedParameter {
                verb: ftp_proto::Verb::Prot
            }),
            Err(CommandError::LineTooLong { limit: 32 }),
            Ok(Command::Retr(Pathname::from("a file"))),
        ]
    );
}

#[tokio::test]
async fn client_and_server_codecs_talk_to_each_other() {
    let (client_end, server_end) = tokio::io::duplex(16);
    let (client_read, client_write) = tokio::io::split(client_end);
    let (server_read, server_write) = tokio::io::split(server_end);
    let mut to_server = FramedWrite::new(client_write, ClientCodec::new());
    let mut from_server = FramedRead::new(client_read, ClientCodec::new());
    let mut commands = FramedRead::new(server_read, ServerCodec::new());
    let mut to_client = FramedWrite::new(server_write, ServerCodec::new());

    let server = tokio::spawn(async move {
        while let Some(command) = commands.next().await {
            let reply = match command.unwrap() {
                Ok(Command::Feat) => Reply::from_lines(
                    ReplyCode::SYSTEM_STATUS,
                    ["Features:", " EPSV", " UTF8", "End"],
                ),
                Ok(Command::Quit) => {
                    to_client
                        .send(Reply::new(ReplyCode::CLOSING_CONTROL_CONNECTION, "Bye"))
                        .await
                        .unwrap();
                    break;
                }
                Ok(other) => Reply::new(ReplyCode::COMMAND_OKAY, other.to_string()),
                Err(error) => Reply::new(error.reply_code(), error.to_string()),
            };
            to_client.send(reply).await.unwrap();
        }
    });

    // A command with an injected line end is refused before anything is written.
    let injected = to_server
        .send(Command::Retr("x\r\nDELE y".into()))
        .await
        .unwrap_err();
    assert_eq!(injected.kind(), std::io::ErrorKind::InvalidInput);

    to_server.send(Command::Feat).await.unwrap();
    to_server.send(Command::Cwd("/pub".into())).await.unwrap();
    to_server.send(Command::Quit).await.unwrap();

    let feat = from_server.next().await.unwrap().unwrap().unwrap();
    let names: Vec<String> = feat
        .features()
        .unwrap()
        .iter()
        .map(|f| f.name.to_string())
        .collect();
    assert_eq!(names, ["EPSV", "UTF8"]);
    let cwd = from_server.next().await.unwrap().unwrap().unwrap();
    assert_eq!(cwd, Reply::new(ReplyCode::COMMAND_OKAY, "CWD /pub"));
    let bye = from_server.next().await.unwrap().unwrap().unwrap();
    assert_eq!(bye.code(), ReplyCode::CLOSING_CONTROL_CONNECTION);
    server.await.unwrap();
    drop(to_server);
    assert!(from_server.next().await.is_none());
}

#[tokio::test]
async fn client_codec_reports_a_reply_cut_off_by_the_server() {
    let (mut server, client) = tokio::io::duplex(64);
    let mut replies = FramedRead::new(client, ClientCodec::new());
    server
        .write_all(b"211-Features:\r\n EPSV\r\n")
        .await
        .unwrap();
    drop(server);
    assert_eq!(
        replies.next().await.unwrap().unwrap(),
        Err(ReplyError::Incomplete)
    );
    assert!(replies.next().await.is_none());
}
