// A chat frontend's use of hermod: alice sends bob a message asking for a
// receipt, bob's device consumes and acks it, alice's receipt queue shows
// the "two ticks". Usage: chat_frontend [HOST:PORT]
#include <hermod/client.h>

#include <cstdio>
#include <future>
#include <mutex>

int main(int argc, char** argv) {
  hermod::ClientOptions options;
  if (argc > 1) options.server = argv[1];
  auto client = hermod::Client::Connect(options);
  if (!client.ok()) return std::fprintf(stderr, "%s\n", client.status().ToString().c_str()), 1;
  hermod::Client& c = **client;

  hermod::PublishOptions send;
  send.receipt_to = "receipts:alice";  // the broker appends a receipt when bob acks
  hermod::PublishResult sent = c.Publish("inbox:bob", "hi bob", send).get();
  std::printf("sent msg %llu\n", static_cast<unsigned long long>(sent.msg_id));

  std::promise<void> read, ticked;  // set once each, however often a handler runs
  std::once_flag read_once, ticked_once;
  auto bob = c.Subscribe("inbox:bob", {}, [&](const hermod::Delivery& d) {
    std::printf("bob reads: %s\n", d.payload.c_str());
    (void)c.Ack(d.subscription, d.seq);  // the ack is what makes the receipt
    std::call_once(read_once, [&] { read.set_value(); });
  });
  read.get_future().wait();
  auto alice = c.Subscribe("receipts:alice", {}, [&](const hermod::Delivery& d) {
    for (const hermod::Header& h : d.headers)
      std::printf("receipt %s=%s\n", h.key.c_str(), h.value.c_str());
    (void)c.Ack(d.subscription, d.seq);
    std::call_once(ticked_once, [&] { ticked.set_value(); });
  });
  ticked.get_future().wait();
  return bob.ok() && alice.ok() ? 0 : 1;
}
