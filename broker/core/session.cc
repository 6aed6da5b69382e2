#include "session.h"

#include "broker.h"

#include <spdlog/spdlog.h>
#include "hermod/version.h"

namespace hermod::core {

bool Session::OnFrame(net::Connection& /*conn*/, const wire::Frame& frame) {
  last_heard_ms = broker_->loop_ms();
  wire::Body type = frame.body_type();
  if (!greeted_) {
    if (type != wire::Body::Hello) {
      SendError(
          Status(ErrorCode::kProtocolViolation,
                 std::string("expected Hello as the first frame, got ") + proto::BodyName(type)),
          0, /*fatal=*/true);
      return false;
    }
    return HandleHello(*frame.body_as_Hello());
  }
  switch (type) {
    case wire::Body::Publish:
      broker_->Publish(*this, *frame.body_as_Publish());
      break;
    case wire::Body::Subscribe:
      broker_->Subscribe(*this, *frame.body_as_Subscribe());
      break;
    case wire::Body::Credit: {
      const wire::Credit* credit = frame.body_as_Credit();
      broker_->SetCredit(*this, credit->subscription_id(), credit->credit());
      break;
    }
    case wire::Body::Ack: {
      const wire::Ack* ack = frame.body_as_Ack();
      broker_->Ack(*this, ack->subscription_id(), ack->first_seq(), ack->last_seq());
      break;
    }
    case wire::Body::Nack: {
      const wire::Nack* nack = frame.body_as_Nack();
      broker_->Nack(*this, nack->subscription_id(), nack->seq(), nack->delay_ms());
      break;
    }
    case wire::Body::Unsubscribe:
      broker_->Unsubscribe(*this, *frame.body_as_Unsubscribe());
      break;
    case wire::Body::ConfigureQueue:
      broker_->ConfigureQueue(*this, *frame.body_as_ConfigureQueue());
      break;
    case wire::Body::GroupRequest:
      broker_->HandleGroupRequest(*this, *frame.body_as_GroupRequest());
      break;
    case wire::Body::QueueRequest:
      broker_->HandleQueueRequest(*this, *frame.body_as_QueueRequest());
      break;
    case wire::Body::StatsRequest:
      broker_->HandleStats(*this, *frame.body_as_StatsRequest());
      break;
    case wire::Body::Ping: {
      auto& fbb = broker_->encoder().Start();
      Send(broker_->encoder().Finish(wire::CreatePong(fbb, frame.body_as_Ping()->nonce())));
      break;
    }
    case wire::Body::Pong:
      break;
    case wire::Body::Hello:
      SendError(Status(ErrorCode::kProtocolViolation, "Hello sent twice"), 0, true);
      return false;
    default:
      // Frames only the broker sends (Welcome, Deliver, ...) are known types
      // but not valid requests.
      SendError(Status(ErrorCode::kProtocolViolation,
                       std::string(proto::BodyName(type)) + " is not a client frame"),
                0, true);
      return false;
  }
  return !conn_->closing();
}

bool Session::HandleHello(const wire::Hello& hello) {
  if (hello.protocol_version() != proto::kProtocolVersion) {
    SendError(Status(ErrorCode::kUnsupportedVersion, "protocol version " +
                                                         std::to_string(hello.protocol_version()) +
                                                         " is not supported; this broker speaks " +
                                                         std::to_string(proto::kProtocolVersion)),
              0, true);
    return false;
  }
  if (!broker_->Authenticate(*this, proto::View(hello.auth_token()))) {
    SendError(Status(ErrorCode::kUnauthenticated, proto::View(hello.auth_token()).empty()
                                                      ? "this broker requires an auth token"
                                                      : "the auth token is not valid"),
              0, true);
    return false;
  }
  greeted_ = true;
  client_name_.assign(proto::View(hello.client_name()));
  spdlog::info("connection {} from {}: {} (client {}{})", conn_id_, conn_->peer(), client_name_,
               proto::View(hello.client_id()), hello.reconnect() ? ", reconnecting" : "");
  proto::FrameEncoder& encoder = broker_->encoder();
  auto& fbb = encoder.Start();
  auto version = fbb.CreateString(HERMOD_VERSION);
  auto sync_mode = fbb.CreateString(broker_->config().sync_mode);
  Send(encoder.Finish(wire::CreateWelcome(fbb, proto::kProtocolVersion, version,
                                          broker_->config().max_frame_bytes, sync_mode,
                                          broker_->config().heartbeat_ms)));
  return true;
}

void Session::SendError(const Status& status, uint64_t correlation_id, bool fatal) {
  proto::FrameEncoder& encoder = broker_->encoder();
  auto& fbb = encoder.Start();
  auto message = fbb.CreateString(status.message());
  Send(encoder.Finish(wire::CreateError(fbb, static_cast<uint16_t>(status.code()), message,
                                        correlation_id, fatal)));
  if (fatal) conn_->Close(status);
}

void Session::OnBadInput(net::Connection& /*conn*/, const Status& why) {
  SendError(why, 0, /*fatal=*/true);
}

void Session::OnDrained(net::Connection& /*conn*/) {
  if (close_when_drained_) {
    conn_->Close(Status(ErrorCode::kShuttingDown, "broker stopping"));
    return;
  }
  broker_->SessionWritable(*this);
}

void Session::CloseWhenDrained() {
  close_when_drained_ = true;
  if (conn_->pending_output() == 0) {
    conn_->Close(Status(ErrorCode::kShuttingDown, "broker stopping"));
  }
}

void Session::OnClosed(net::Connection& /*conn*/, const Status& why) {
  broker_->SessionClosed(*this, why);  // frees this session
}

Consumer* Session::FindConsumer(SubscriptionId subscription_id) {
  for (auto& c : consumers_) {
    if (c->subscription_id == subscription_id) return c.get();
  }
  return nullptr;
}

}  // namespace hermod::core
