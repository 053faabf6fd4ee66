//! The reference WebSocket bot of docs/bot-protocol.md: it echoes the caller's audio back,
//! transfers the call to an agent on DTMF `0` and hangs up on `#`.
//!
//! ```text
//! cargo run --example ws_echo_bot -- --listen 127.0.0.1:9000
//! ```
//! then point a bot of kind `websocket` at `ws://127.0.0.1:9000/`. It accepts both formats:
//! µ-law in JSON `media` events and L16 in binary frames are echoed the way they came.

use std::collections::BTreeMap;
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
}

/// One stream: one call's bot session.
struct EchoSession {
    args: Args,
    stream_sid: Option<String>,
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
                    let echo = FromBot::Media {
                        stream_sid: self.stream_sid.clone(),
                        media: Media::outbound(&bytes),
                    };
                    self.send(ctx, &echo);
                }
            }
            ToBot::Dtmf { dtmf, .. } => match dtmf.digit.as_str() {
                "0" => {
                    let transfer = FromBot::Transfer {
                        stream_sid: self.stream_sid.clone(),
                        transfer: Transfer {
                            reason: self.args.transfer_reason.clone(),
                            target: None,
                            headers: BTreeMap::from([("X-Bot-Intent".into(), "agent".into())]),
                            variables: BTreeMap::from([("ringGroup".into(), "agents".into())]),
                            metadata: serde_json::json!({ "digit": "0" }),
                        },
                    };
                    self.send(ctx, &transfer);
                }
                "#" => {
                    let hangup = FromBot::Hangup {
                        stream_sid: self.stream_sid.clone(),
                        hangup: Hangup {
                            reason: self.args.hangup_reason.clone(),
                            headers: BTreeMap::new(),
                        },
                    };
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
            ToBot::Stop { .. } => ctx.stop(),
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
            Ok(ws::Message::Binary(bytes)) => ctx.binary(bytes),
            Ok(ws::Message::Ping(p)) => ctx.pong(&p),
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            Ok(_) => {}
            Err(_) => ctx.stop(),
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
