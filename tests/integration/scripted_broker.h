// Test helpers that play the broker's side of a libhermod connection frame
// by frame over a raw socket (ScriptedBroker), and record the client's state
// changes (StateLog). Used by tests that check what the client sends, or
// how it reacts to what hermodd rarely or never does.
//
// ScriptedBroker: one thread at a time (the test's). StateLog: Record() on
// the client thread, everything else on any thread.
#ifndef HERMOD_TESTS_INTEGRATION_SCRIPTED_BROKER_H_
#define HERMOD_TESTS_INTEGRATION_SCRIPTED_BROKER_H_

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "frame_codec.h"
#include "hermod/client.h"
#include "raw_socket.h"

namespace hermod::test {

// One verified frame, with the aligned bytes it lives in.
struct OwnedFrame {
  std::vector<uint64_t> storage;
  const wire::Frame* frame = nullptr;
  wire::Body type() const { return frame ? frame->body_type() : wire::Body::NONE; }
};

// The broker side of one client connection, driven by the test thread.
class ScriptedBroker {
 public:
  static constexpr std::chrono::milliseconds kWait{10000};

  explicit ScriptedBroker(std::unique_ptr<RawSocket> socket) : socket_(std::move(socket)) {}

  // Reads the next frame; frame is nullptr when none came in time, the
  // connection closed, or the bytes were not a valid frame.
  OwnedFrame Read(std::chrono::milliseconds timeout = kWait) {
    OwnedFrame out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto have = [&](size_t n) {
      while (buffered_.size() < n) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        Result<std::string> chunk = socket_->Read(left);
        if (!chunk.ok() || chunk->empty()) return false;
        buffered_ += *chunk;
      }
      return true;
    };
    if (!have(4)) return out;
    uint32_t length = 0;
    for (int i = 0; i < 4; ++i)
      length |= static_cast<uint32_t>(static_cast<uint8_t>(buffered_[i])) << (8 * i);
    const size_t size = size_t{length} + 4;
    if (!have(size)) return out;
    out.storage.resize((size + 7) / 8);
    std::memcpy(out.storage.data(), buffered_.data(), size);
    buffered_.erase(0, size);
    Result<const wire::Frame*> frame =
        proto::FrameDecoder::Verify(reinterpret_cast<const uint8_t*>(out.storage.data()), size);
    EXPECT_TRUE(frame.ok()) << frame.status().ToString();
    if (frame.ok()) out.frame = *frame;
    return out;
  }

  // Sends the frame built in Start()'s builder.
  template <typename T>
  void Send(flatbuffers::Offset<T> body) {
    std::span<const uint8_t> bytes = encoder_.Finish(body);
    ASSERT_TRUE(
        socket_->Write(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()))
            .ok());
  }
  flatbuffers::FlatBufferBuilder& Start() { return encoder_.Start(); }

  // Reads Hello, checks it, and answers Welcome. Records the Hello's
  // client_id and reconnect flag. On a client's first connection (Hello not
  // a reconnect) it then answers the client's MapRequest as a single node
  // does (partitions 0), unless answer_map is false.
  void Handshake(uint32_t max_frame_bytes = 1 << 20, bool answer_map = true) {
    OwnedFrame hello = Read();
    ASSERT_EQ(hello.type(), wire::Body::Hello);
    const wire::Hello& h = *hello.frame->body_as_Hello();
    EXPECT_EQ(h.protocol_version(), proto::kProtocolVersion);
    EXPECT_EQ(proto::View(h.client_name()), "scripted");
    client_id_ = std::string(proto::View(h.client_id()));
    reconnect_ = h.reconnect();
    auto& fbb = Start();
    auto version = fbb.CreateString("9.9.9");
    auto sync = fbb.CreateString("batch");
    Send(wire::CreateWelcome(fbb, proto::kProtocolVersion, version, max_frame_bytes, sync, 0));
    if (answer_map && !reconnect_) AnswerMap(0, {});
  }

  // Reads a MapRequest and answers MapReply: `leaders` holds each
  // partition's leader address ("" for none), epoch 1.
  void AnswerMap(uint32_t partitions, const std::vector<std::string>& leaders) {
    OwnedFrame request = Read();
    ASSERT_EQ(request.type(), wire::Body::MapRequest) << proto::BodyName(request.type());
    auto& fbb = Start();
    std::vector<flatbuffers::Offset<wire::PartitionRoute>> routes;
    for (const std::string& leader : leaders) {
      routes.push_back(wire::CreatePartitionRouteDirect(fbb, leader.c_str(), 1));
    }
    Send(wire::CreateMapReplyDirect(fbb, request.frame->body_as_MapRequest()->correlation_id(),
                                    partitions, &routes));
  }

  // Reads frames until one of `type` comes (others are returned through
  // *skipped when given, else they fail the test); nullptr frame on timeout.
  OwnedFrame ReadType(wire::Body type, std::vector<wire::Body>* skipped = nullptr) {
    for (int i = 0; i < 1000; ++i) {
      OwnedFrame f = Read();
      if (f.frame == nullptr || f.type() == type) return f;
      if (skipped == nullptr) {
        ADD_FAILURE() << "expected " << proto::BodyName(type) << ", got "
                      << proto::BodyName(f.type());
        return OwnedFrame();
      }
      skipped->push_back(f.type());
    }
    return OwnedFrame();
  }

  // What the last Handshake() read from Hello.
  const std::string& client_id() const { return client_id_; }
  bool reconnect() const { return reconnect_; }

  RawSocket& socket() { return *socket_; }

 private:
  std::unique_ptr<RawSocket> socket_;
  std::string buffered_;
  proto::FrameEncoder encoder_;
  std::string client_id_;
  bool reconnect_ = false;
};

// Records state changes reported on the client thread.
class StateLog {
 public:
  std::function<void(ConnectionState, const Status&)> Callback() {
    return [this](ConnectionState state, const Status& why) { Record(state, why); };
  }
  void Record(ConnectionState state, const Status& why) {
    std::lock_guard<std::mutex> lock(mu_);
    states_.push_back(state);
    reasons_.push_back(why);
    changed_.notify_all();
  }
  // Waits until `state` was reported at least `times` times.
  bool WaitFor(ConnectionState state, std::chrono::milliseconds timeout, size_t times = 1) {
    std::unique_lock<std::mutex> lock(mu_);
    return changed_.wait_for(lock, timeout, [&] {
      size_t n = 0;
      for (ConnectionState s : states_) n += s == state ? 1 : 0;
      return n >= times;
    });
  }
  std::vector<ConnectionState> states() {
    std::lock_guard<std::mutex> lock(mu_);
    return states_;
  }
  Status last_reason() {
    std::lock_guard<std::mutex> lock(mu_);
    return reasons_.empty() ? Status::OK() : reasons_.back();
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<ConnectionState> states_;
  std::vector<Status> reasons_;
};

// Whether s is 16 lowercase hex digits, the form of libhermod's client ids.
inline bool IsClientId(const std::string& s) {
  if (s.size() != 16) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace hermod::test

#endif  // HERMOD_TESTS_INTEGRATION_SCRIPTED_BROKER_H_
