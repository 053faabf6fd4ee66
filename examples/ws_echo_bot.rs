//! The reference WebSocket bot of docs/bot-protocol.md: it echoes the caller's audio back,
//! transfers the call to an agent on DTMF `0` and hangs up on `#`.
//!
//! ```text
//! cargo run --example ws_echo_bot -- --listen 127.0.0.1:9000
//! ```
//! then point a bot of kind `websocket` at `ws://127.0.0.1:9000/`. It accepts both formats:
//! µ-law in JSON `media` events and L16 in binary frames are echoed the way they came.
//!
//! Two options show agent assist (`assist = true` on an `invite` trunk), where the bot stays on
//! the call listen-only once it has transferred: `--record-dir DIR` writes the audio each stream
//! receives to `DIR/<callSid>.raw` (the payload bytes as they came), and `--assist-transcripts`
//! makes it narrate while it listens: a `transcript` every 25 media events after its transfer,
//! and once, a `hangup` and a second `transfer`, which a listen-only bot's node ignores.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;

use actix::{Actor, ActorContext, StreamHandler};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use actix_web_actors::ws;
use clap::Parser;
use voxgate_engine::ws::{FromBot, Hangup, Media, ToBot, Transcript, Transfer};

#[derive(Parser, Debug, Clone)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// Reason sent in `transfer` (DTMF `0`).
    #[arg(long, default_value = "TransferToAgent")]
    transfer_reason: String,
    /// Reason sent in `hangup` (DTMF `#`).
    #[arg(long, default_value = "HangUp")]
    hangup_reason: String,
    /// Write each stream's received audio to `<dir>/<callSid>.raw`.
    #[arg(long)]
    record_dir: Option<std::path::PathBuf>,
    /// After the transfer, narrate (transcripts) and try a hang-up and a transfer.
    #[arg(long)]
    assist_transcripts: bool,
}

/// One stream: one call's bot session.
struct EchoSession {
    args: Args,
    stream_sid: Option<String>,
    record: Option<std::fs::File>,
    /// Media events received since the transfer, if it transferred.
    since_transfer: Option<u64>,
    /// The size of the first audio message has been logged.
    sized: bool,
}

impl Actor for EchoSession {
    type Context = ws::WebsocketContext<Self>;
}

impl EchoSession {
    fn send(&self, ctx: &mut ws::WebsocketContext<Self>, event: &FromBot) {
        ctx.text(event.to_json());
    }

    fn on_event(&mut self, event: ToBot, ctx: &mut ws::WebsocketContext<Self>) {
        match event {
            ToBot::Connected(_) => {}
            ToBot::Start {
                stream_sid, start, ..
            } => {
                eprintln!(
                    "start: call {} format {} params {:?}",
                    start.call_sid, start.media_format.encoding, start.custom_parameters
                );
                self.stream_sid = Some(stream_sid);
                if let Some(dir) = &self.args.record_dir {
                    let path = dir.join(format!("{}.raw", start.call_sid));
                    self.record = std::fs::File::create(path).ok();
                }
                let hello = FromBot::Transcript {
                    stream_sid: self.stream_sid.clone(),
                    transcript: Transcript {
                        role: "bot".into(),
                        text: "echo bot ready".into(),
                    },
                };
                self.send(ctx, &hello);
            }
            ToBot::Media { media, .. } => {
                if let Ok(bytes) = media.decode_payload() {
                    self.heard(&bytes, ctx);
                    let echo = FromBot::Media {
                        stream_sid: self.stream_sid.clone(),
                        media: Media::outbound(&bytes),
                    };
                    self.send(ctx, &echo);
                }
            }
            ToBot::Dtmf { dtmf, .. } => match dtmf.digit.as_str() {
                "0" => {
                    let transfer = self.transfer();
                    self.send(ctx, &transfer);
                    self.since_transfer = Some(0);
                }
                "#" => {
                    let hangup = self.hangup();
                    self.send(ctx, &hangup);
                }
                other => {
                    let line = FromBot::Transcript {
                        stream_sid: self.stream_sid.clone(),
                        transcript: Transcript {
                            role: "caller".into(),
                            text: format!("DTMF {other}"),
                        },
                    };
                    self.send(ctx, &line);
                }
            },
            ToBot::Mark { .. } => {}
            ToBot::Stop { stop, .. } => {
                eprintln!("stop: call {}", stop.call_sid);
                ctx.stop();
            }
        }
    }

    fn transfer(&self) -> FromBot {
        FromBot::Transfer {
            stream_sid: self.stream_sid.clone(),
            transfer: Transfer {
                reason: self.args.transfer_reason.clone(),
                target: None,
                headers: BTreeMap::from([("X-Bot-Intent".into(), "agent".into())]),
                variables: BTreeMap::from([("ringGroup".into(), "agents".into())]),
                metadata: serde_json::json!({ "digit": "0" }),
            },
        }
    }

    fn hangup(&self) -> FromBot {
        FromBot::Hangup {
            stream_sid: self.stream_sid.clone(),
            hangup: Hangup {
                reason: self.args.hangup_reason.clone(),
                headers: BTreeMap::new(),
            },
        }
    }

    /// Records received audio and, listening after a transfer, narrates.
    fn heard(&mut self, bytes: &[u8], ctx: &mut ws::WebsocketContext<Self>) {
        if !self.sized {
            // How much audio the node puts in one message (its `chunk_ms`).
            eprintln!("audio: {} bytes", bytes.len());
            self.sized = true;
        }
        if let Some(file) = self.record.as_mut() {
            let _ = file.write_all(bytes);
        }
        let Some(n) = self
            .since_transfer
            .as_mut()
            .filter(|_| self.args.assist_transcripts)
        else {
            return;
        };
        *n += 1;
        let n = *n;
        if n % 25 == 0 {
            let role = if n % 50 == 0 { "agent" } else { "caller" };
            let line = FromBot::Transcript {
                stream_sid: self.stream_sid.clone(),
                transcript: Transcript {
                    role: role.into(),
                    text: format!("assist line {}", n / 25),
                },
            };
            self.send(ctx, &line);
        }
        if n == 60 {
            let hangup = self.hangup();
            self.send(ctx, &hangup);
        }
        if n == 70 {
            let transfer = self.transfer();
            self.send(ctx, &transfer);
        }
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for EchoSession {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        match msg {
            Ok(ws::Message::Text(text)) => match ToBot::parse(&text) {
                Ok(event) => self.on_event(event, ctx),
                Err(e) => eprintln!("ignored: {e}"),
            },
            // L16 audio comes in binary frames: echo it as it came.
            Ok(ws::Message::Binary(bytes)) => {
                self.heard(&bytes, ctx);
                ctx.binary(bytes);
            }
            Ok(ws::Message::Ping(p)) => ctx.pong(&p),
            Ok(ws::Message::Close(reason)) => {
                eprintln!("close: {reason:?}");
                ctx.close(reason);
                ctx.stop();
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("error: {e}");
                ctx.stop();
            }
        }
    }
}

async fn stream(
    req: HttpRequest,
    body: web::Payload,
    args: web::Data<Args>,
) -> Result<HttpResponse, actix_web::Error> {
    let session = EchoSession {
        args: args.get_ref().clone(),
        stream_sid: None,
        record: None,
        since_transfer: None,
        sized: false,
    };
    ws::WsResponseBuilder::new(session, &req, body)
        .frame_size(1 << 20)
        .start()
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let data = web::Data::new(args.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::get().to(stream))
    })
    .workers(1)
    .bind(args.listen)?;
    for addr in server.addrs() {
        println!("ws_echo_bot listening on {addr}");
    }
    server.run().await
}
