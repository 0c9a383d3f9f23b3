// seed_agi_server: the FastAGI seed's Quick Start and DTMF example, on astra::service.
//   build/bin/seed_agi_server [--config FILE]    (FastAGI on 0.0.0.0:4573, admin on :9573)
// Dialplan: AGI(agi://astra:4573/welcome?token=my-secret)  /  AGI(agi://astra:4573/survey)
#include <cstdlib>
#include <string>

#include <astra/service.hpp>

using namespace std::chrono_literals;
using astra::agi::call;

astra::task<void> welcome(call& call) {
  co_await call.answer();
  co_await call.stream_file("welcome");
  co_await call.hangup();
}

astra::task<void> survey(call& call) {
  co_await call.answer();
  auto answer = co_await call.get_data("survey-prompt", 30s, 1);
  co_await call.stream_file(answer && answer->digits == "1" ? "thanks" : "goodbye");
  co_await call.hangup();
}

int main(int argc, char** argv) {
  astra::service svc{argc, argv};
  const char* env = std::getenv("SEED_AGI_TOKEN");
  const std::string token = env ? env : "my-secret";
  svc.agi_auth([token](const astra::agi::auth_request& r) { return r.env.param("token") == token; });
  svc.agi("/welcome", welcome);
  astra::agi_route_options open_to_all;
  open_to_all.auth = [](const astra::agi::auth_request&) { return true; };
  svc.agi("/survey", survey, open_to_all);
  return svc.run();
}
