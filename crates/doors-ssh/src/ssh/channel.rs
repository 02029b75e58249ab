//! An SSH session channel as the SFTP loop's input and output.

use std::io;

use bytes::Bytes;
use russh::server::Msg;
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf};

use crate::sftp;

pub struct ChannelInput(pub ChannelReadHalf);

impl sftp::Input for ChannelInput {
    async fn recv(&mut self) -> Option<Bytes> {
        loop {
            match self.0.wait().await? {
                ChannelMsg::Data { data } => return Some(data),
                ChannelMsg::Eof | ChannelMsg::Close => return None,
                _ => {}
            }
        }
    }
}

pub struct ChannelOutput(pub ChannelWriteHalf<Msg>);

impl sftp::Output for ChannelOutput {
    async fn send(&self, data: Bytes) -> io::Result<()> {
        self.0
            .data_bytes(data)
            .await
            .map_err(|e| io::Error::new(io::ErrorKind::BrokenPipe, e.to_string()))
    }

    async fn close(&self) {
        let _ = self.0.exit_status(0).await;
        let _ = self.0.eof().await;
        let _ = self.0.close().await;
    }
}
