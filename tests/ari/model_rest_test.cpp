// Typed ARI operations against the Swagger and the recorded REST / REST-over-WebSocket traffic.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>

#include "protocols/ari/ari.hpp"
#include "tests/support/fixtures.hpp"

namespace ari = astra::ari;
using nlohmann::json;
using pairs = std::vector<std::pair<std::string, std::string>>;

namespace {

json load_spec(const std::string& name) {
  std::ifstream in(std::string(ASTRA_SOURCE_DIR) + "/codegen/asterisk/ari-api-docs/" + name);
  return json::parse(in);
}

pairs parse_query(std::string_view query) {
  pairs out;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto item = query.substr(0, amp);
    auto eq = item.find('=');
    out.emplace_back(ari::percent_decode(item.substr(0, eq), true),
                     eq == std::string_view::npos ? std::string() : ari::percent_decode(item.substr(eq + 1), true));
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
  }
  return out;
}

bool is_body_param(const ari::operation_info& op, const std::string& name) {
  // Body parameter names of the ARI spec (containers / object).
  static const std::set<std::string> body_names = {"variables", "fields", "filter"};
  return body_names.count(name) && op.method != "GET";
}

pairs sorted(pairs p) {
  std::sort(p.begin(), p.end());
  return p;
}

struct exchange {
  std::string method, path;
  json body, response;
  int status;
};

std::vector<exchange> recorded_exchanges() {
  std::vector<exchange> out;
  for (const auto& name : astra::test::list_fixtures("ari"))
    for (const auto& c : astra::test::load_fixture(name)) {
      if (c.dir != "rest") continue;
      json j = json::parse(c.json);
      out.push_back({j["method"], j["path"], j["body"], j["response"], j["status"]});
    }
  return out;
}

}  // namespace

TEST_CASE("operation table matches the Swagger: 11 resources, 109 operations", "[ari][ops]") {
  json listing = load_spec("resources.json");
  REQUIRE(listing["apis"].size() == 11);
  CHECK(ari::resource_count == 11);
  CHECK(ari::all_resources().size() == 11);
  CHECK(ari::all_operations().size() == 109);
  CHECK(ari::operation_count == 109);
  std::size_t counted = 0;
  for (const auto& api : listing["apis"]) {
    std::string path = api["path"];
    std::string res = path.substr(10, path.find('.') - 10);  // "/api-docs/<res>.{format}"
    json doc = load_spec(res + ".json");
    for (const auto& a : doc["apis"])
      for (const auto& o : a["operations"]) {
        ++counted;
        auto it = std::find_if(ari::all_operations().begin(), ari::all_operations().end(), [&](const auto& op) {
          return op.resource == res && op.nickname == o["nickname"].get<std::string>() &&
                 op.method == o["httpMethod"].get<std::string>() && op.path_template == a["path"].get<std::string>();
        });
        INFO(res << "." << o["nickname"]);
        REQUIRE(it != ari::all_operations().end());
        CHECK(it->response_class == o["responseClass"].get<std::string>());
        CHECK(it->errors.size() == o.value("errorResponses", json::array()).size());
        CHECK(&ari::info(it->id) == &*it);
        // The lookup by method + a concrete path finds this very operation.
        std::string concrete = a["path"];
        for (std::size_t b; (b = concrete.find('{')) != std::string::npos;)
          concrete.replace(b, concrete.find('}', b) - b + 1, "x1");
        auto m = ari::find_operation(it->method, "/ari" + concrete);
        REQUIRE(m);
        CHECK(m->op == &*it);
      }
  }
  CHECK(counted == 109);
}

TEST_CASE("recorded REST exchanges: request rebuilt by the typed call, response decoded", "[ari][ops][fixtures]") {
  const auto exchanges = recorded_exchanges();
  REQUIRE(exchanges.size() >= 30);
  std::size_t rebuilt = 0, decoded = 0, errors = 0, refused = 0;
  for (const auto& ex : exchanges) {
    INFO(ex.method << " " << ex.path << " -> " << ex.status);
    std::string_view path_only = ex.path;
    std::string_view query;
    if (auto q = path_only.find('?'); q != std::string_view::npos) {
      query = path_only.substr(q + 1);
      path_only = path_only.substr(0, q);
    }
    auto match = ari::find_operation(ex.method, path_only);
    if (!match) {
      // Only the deliberately wrong requests have no operation: trailing slash, unknown resource,
      // wrong method. They still map to typed errors with Asterisk's message.
      CHECK(ex.status >= 400);
      auto f = ari::decode_response<ari::asterisk::get_info>(ex.status, ex.response.get<std::string>());
      REQUIRE_FALSE(f.ok());
      CHECK(ari::http_status(f.error()) == ex.status);
      CHECK(f.error().detail == json::parse(ex.response.get<std::string>())["message"].get<std::string>());
      ++errors;
      continue;
    }
    const auto& op = *match->op;
    // Parameters as recorded: path + query + JSON body members.
    pairs recorded_params = parse_query(query);
    ari::param_list params = recorded_params;
    json recorded_body_params = json::object();
    if (ex.body.is_object())
      for (auto& [k, v] : ex.body.items()) {
        if (is_body_param(op, k)) {
          recorded_body_params[k] = v;
          params.emplace_back(k, v.dump());
        } else {
          std::string text = v.is_string() ? v.get<std::string>() : v.dump();
          recorded_params.emplace_back(k, text);
          params.emplace_back(k, text);
        }
      }
    for (const auto& pp : match->path_params) params.push_back(pp);
    auto rq = ari::build_request(op.id, params);
    if (!rq.ok()) {
      // Asterisk refused it for a missing required parameter: the typed call refuses it up front.
      CHECK(ex.status == 400);
      CHECK(rq.code() == ari::codec_errc::missing_required_param);
      CHECK(json::parse(ex.response.get<std::string>())["message"] == "Endpoint must be specified");
      ++refused;
    }
    else {
    CHECK(rq->method == ex.method);
    CHECK(rq->path == path_only);
    CHECK(sorted(rq->query) == sorted(recorded_params));
    if (recorded_body_params.empty()) CHECK_FALSE(rq->body.has_value());
    else CHECK(json::parse(*rq->body) == recorded_body_params);
    // The HTTP target we would send decodes to the same parameters.
    std::string target = ari::encode_target(*rq);
    auto qpos = target.find('?');
    CHECK(target.substr(0, qpos) == path_only);
    CHECK(sorted(parse_query(qpos == std::string::npos ? "" : target.substr(qpos + 1))) == sorted(rq->query));
    ++rebuilt;
    }

    const std::string body = ex.response.get<std::string>();
    auto r = ari::decode_response_json(op.id, ex.status, body);
    if (ex.status >= 200 && ex.status < 300) {
      REQUIRE(r.ok());
      if (op.response_class == "void") CHECK(r->empty());
      else CHECK(json::parse(*r) == json::parse(body));
      ++decoded;
    } else {
      REQUIRE_FALSE(r.ok());
      CHECK(ari::http_status(r.error()) == ex.status);
      CHECK(r.error().detail == json::parse(body)["message"].get<std::string>());
      auto e = ari::describe_error(op.id, ex.status, body);
      CHECK(e.status == ex.status);
      CHECK(e.reason == ari::error_reason(op.id, ex.status));
      ++errors;
    }
  }
  CHECK(refused == 1);
  CHECK(rebuilt >= 28);
  CHECK(decoded >= 20);
  CHECK(errors >= 8);
}

TEST_CASE("typed calls reproduce recorded requests", "[ari][ops]") {
  ari::channels::originate o;
  o.endpoint = "Local/wait@default";
  o.app = "astra-test";
  o.appArgs = "in,bound";
  o.callerId = "Astra <5550199>";
  o.channelId = "astra-chan-1";
  auto rq = ari::to_request(o);
  REQUIRE(rq.ok());
  CHECK(rq->method == "POST");
  CHECK(rq->path == "/ari/channels");
  CHECK(rq->query == pairs{{"endpoint", "Local/wait@default"}, {"app", "astra-test"}, {"appArgs", "in,bound"},
                           {"callerId", "Astra <5550199>"}, {"channelId", "astra-chan-1"}});
  CHECK(ari::encode_target(*rq) ==
        "/ari/channels?endpoint=Local/wait@default&app=astra-test&appArgs=in,bound&callerId=Astra%20%3C5550199%3E"
        "&channelId=astra-chan-1");

  ari::channels::play play;
  play.channelId = "astra-chan-1";
  play.media = {"sound:beep", "sound:beeperr"};
  play.playbackId = "astra-pb-2";
  rq = ari::to_request(play);
  REQUIRE(rq.ok());
  CHECK(ari::encode_target(*rq) == "/ari/channels/astra-chan-1/play?media=sound:beep,sound:beeperr&playbackId=astra-pb-2");

  ari::channels::hangup hangup{.channelId = "astra-chan-1", .reason_code = {}, .reason = "normal"};
  rq = ari::to_request(hangup);
  REQUIRE(rq.ok());
  CHECK(rq->method == "DELETE");
  CHECK(ari::encode_target(*rq) == "/ari/channels/astra-chan-1?reason=normal");

  ari::bridges::create create;
  create.type = "mixing";
  create.name = "astra-bridge";
  create.bridgeId = "astra-bridge-1";
  create.variables = ari::make_string_map({{"K", "V"}});
  rq = ari::to_request(create);
  REQUIRE(rq.ok());
  CHECK(rq->path == "/ari/bridges");
  REQUIRE(rq->body);
  CHECK(json::parse(*rq->body) == json({{"variables", {{"K", "V"}}}}));

  ari::applications::filter filter;
  filter.applicationName = "astra-test";
  filter.filter = ari::raw_json{R"({"allowed":[{"type":"StasisStart"}]})"};
  rq = ari::to_request(filter);
  REQUIRE(rq.ok());
  CHECK(rq->method == "PUT");
  CHECK(*rq->body == R"({"allowed":[{"type":"StasisStart"}]})");

  // Path segments are percent-encoded.
  rq = ari::to_request(ari::channels::get{.channelId = "a b/c;1"});
  REQUIRE(rq.ok());
  CHECK(rq->path == "/ari/channels/a%20b%2Fc;1");
  auto m = ari::find_operation("GET", rq->path);
  REQUIRE(m);
  CHECK(m->op->id == ari::operation_id::channels_get);
  CHECK(m->path_params == pairs{{"channelId", "a b/c;1"}});

  // Query escaping of the characters Asterisk would misread.
  ari::channels::send_dtmf dtmf;
  dtmf.channelId = "c";
  dtmf.dtmf = "1#*+ &=%";
  rq = ari::to_request(dtmf);
  REQUIRE(rq.ok());
  CHECK(ari::encode_target(*rq) == "/ari/channels/c/dtmf?dtmf=1%23*%2B%20%26%3D%25");

  // Literal segments win over parameters.
  CHECK(ari::find_operation("POST", "/ari/channels/externalMedia")->op->id == ari::operation_id::channels_external_media);
  CHECK(ari::find_operation("POST", "/ari/channels/create")->op->id == ari::operation_id::channels_create);
  CHECK(ari::find_operation("POST", "/ari/channels/abc")->op->id == ari::operation_id::channels_originate_with_id);
  CHECK_FALSE(ari::find_operation("GET", "/ari/channels/"));
  CHECK_FALSE(ari::find_operation("PATCH", "/ari/channels"));
}

TEST_CASE("typed responses", "[ari][ops]") {
  auto ch = ari::decode_response<ari::channels::get>(
      200, R"({"id":"c1","name":"PJSIP/a-1","state":"Up","protocol_id":"","caller":{"name":"A","number":"1"},)"
           R"("connected":{"name":"","number":""},"accountcode":"","dialplan":{"context":"default","exten":"s",)"
           R"("priority":1,"app_name":"Stasis","app_data":"x"},"creationtime":"t","language":"en"})");
  REQUIRE(ch.ok());
  CHECK(ch->id == "c1");
  CHECK(ch->caller.name == "A");
  auto list = ari::decode_response<ari::bridges::list>(200, "[]");
  REQUIRE(list.ok());
  CHECK(list->empty());
  auto wrong = ari::decode_response<ari::bridges::list>(200, "{}");
  CHECK(wrong.code() == ari::codec_errc::type_mismatch);
  auto none = ari::decode_response<ari::channels::answer>(204, "");
  CHECK(none.ok());
  auto file = ari::decode_response<ari::recordings::get_stored_file>(200, std::string("\0\1\2", 3));
  REQUIRE(file.ok());
  CHECK(file->bytes.size() == 3);
  // Error mapping: Asterisk's message first, then the spec's reason, then the reason phrase.
  auto nf = ari::decode_response<ari::channels::answer>(404, R"({"message":"Channel not found"})");
  REQUIRE_FALSE(nf.ok());
  CHECK(nf.code() == ari::make_http_status_error(404));
  CHECK(nf.error().detail == "Channel not found");
  CHECK(ari::describe_error(ari::operation_id::channels_answer, 404, R"({"message":"Channel not found"})").reason ==
        "Channel not found");
  auto conflict = ari::decode_response<ari::channels::answer>(409, "");
  CHECK(conflict.error().detail == "Channel not in a Stasis application");
  auto unprocessable = ari::decode_response<ari::bridges::add_channel>(422, "<html>");
  CHECK(ari::http_status(unprocessable.error()) == 422);
  CHECK(unprocessable.error().detail == ari::error_reason(ari::operation_id::bridges_add_channel, 422));
  auto unauthorized = ari::decode_response<ari::channels::list>(401, "", "Unauthorized");
  CHECK(ari::http_status(unauthorized.error()) == 401);
  CHECK(unauthorized.error().detail == "Unauthorized");
  auto server = ari::decode_response<ari::channels::list>(500, R"({"message":"Allocation failed"})");
  CHECK(ari::http_status(server.error()) == 500);
  CHECK(server.error().detail == "Allocation failed");
}

TEST_CASE("required parameters are enforced", "[ari][ops][errors]") {
  using ari::codec_errc;
  auto r = ari::to_request(ari::channels::originate{});
  CHECK(r.code() == codec_errc::missing_required_param);
  CHECK(r.error().detail == "channels.originate: endpoint");
  CHECK(ari::to_request(ari::channels::answer{}).code() == codec_errc::missing_required_param);
  CHECK(ari::to_request(ari::mailboxes::update{.mailboxName = "m", .oldMessages = 1, .newMessages = {}}).code() ==
        codec_errc::missing_required_param);
  CHECK(ari::to_request(ari::mailboxes::update{.mailboxName = "m", .oldMessages = 1, .newMessages = 0}).ok());
  CHECK(ari::to_request(ari::bridges::set_bridge_vars{.bridgeId = "b", .variables = {}}).code() ==
        codec_errc::missing_required_param);
  CHECK(ari::to_request(ari::applications::subscribe{.applicationName = "a", .eventSource = {}}).code() ==
        codec_errc::missing_required_param);
  CHECK(ari::to_request(ari::endpoints::get{.tech = "PJSIP", .resource = ""}).code() ==
        codec_errc::missing_required_param);
  CHECK(ari::build_request(ari::operation_id::channels_originate, {{"app", "x"}}).code() ==
        codec_errc::missing_required_param);
}

TEST_CASE("allowed values, ranges and types are checked", "[ari][ops][errors]") {
  using ari::codec_errc;
  auto bad_reason = ari::to_request(ari::channels::hangup{.channelId = "c", .reason_code = {}, .reason = "bogus"});
  CHECK(bad_reason.code() == codec_errc::invalid_param_value);
  CHECK(bad_reason.error().detail.find("normal") != std::string::npos);
  ari::bridges::record rec;
  rec.bridgeId = "b";
  rec.name = "n";
  rec.format = "wav";
  CHECK(ari::to_request(rec).ok());
  rec.ifExists = "clobber";
  CHECK(ari::to_request(rec).code() == codec_errc::invalid_param_value);
  rec.ifExists = "overwrite";
  rec.terminateOn = "#";
  CHECK(ari::to_request(rec).ok());
  rec.maxDurationSeconds = -1;
  CHECK(ari::to_request(rec).code() == codec_errc::invalid_param_value);
  CHECK(ari::to_request(ari::asterisk::get_info{.only = {"build", "nope"}}).code() == codec_errc::invalid_param_value);
  auto info = ari::to_request(ari::asterisk::get_info{.only = {"build", "status"}});
  REQUIRE(info.ok());
  CHECK(info->query == pairs{{"only", "build,status"}});
  CHECK(ari::to_request(ari::device_states::update{.deviceName = "Stasis:x", .deviceState = "WEIRD"}).code() ==
        codec_errc::invalid_param_value);
  CHECK(ari::to_request(ari::channels::play{.channelId = "c", .media = {"a,b"}}).code() ==
        codec_errc::invalid_param_value);
  CHECK(ari::to_request(ari::channels::set_channel_vars{.channelId = "c", .variables = ari::raw_json{"{bad"}}).code() ==
        codec_errc::invalid_param_value);
  // Dynamic builds check types.
  CHECK(ari::build_request(ari::operation_id::channels_send_dtmf, {{"channelId", "c"}, {"before", "soon"}}).code() ==
        codec_errc::invalid_param_value);
  CHECK(ari::build_request(ari::operation_id::bridges_add_channel,
                           {{"bridgeId", "b"}, {"channel", "c"}, {"mute", "maybe"}})
            .code() == codec_errc::invalid_param_value);
  CHECK(ari::build_request(ari::operation_id::channels_answer, {{"channelId", "c"}, {"bogus", "1"}}).code() ==
        codec_errc::invalid_param_value);
  auto ok = ari::build_request(ari::operation_id::bridges_add_channel,
                               {{"bridgeId", "b"}, {"channel", "c1,c2"}, {"mute", "true"}});
  REQUIRE(ok.ok());
  CHECK(ok->query == pairs{{"channel", "c1,c2"}, {"mute", "true"}});
}

TEST_CASE("REST over WebSocket: recorded RESTRequest frames reproduced byte for byte", "[ari][ws][fixtures]") {
  const auto chunks = astra::test::load_fixture("ari/rest-over-websocket.jsonl");
  std::map<std::string, const ari::operation_info*> op_of_request;
  std::size_t frames = 0, typed = 0;
  for (const auto& c : chunks) {
    if (c.dir != "ws-out-text") continue;
    json f = json::parse(c.data);
    if (f["type"] != "RESTRequest") continue;
    INFO(c.data);
    ari::rest_request rq;
    rq.method = f["method"];
    rq.path = "/ari/" + f["uri"].get<std::string>();
    if (f.contains("query_strings"))
      for (const auto& q : f["query_strings"]) rq.query.emplace_back(q["name"], q["value"]);
    if (f.contains("message_body")) rq.body = f["message_body"].get<std::string>();
    ari::ws_request_options opt;
    if (f.contains("transaction_id")) opt.transaction_id = f["transaction_id"].get<std::string>();
    const std::string request_id = f["request_id"];
    CHECK(ari::encode_ws_request(rq, request_id, opt) == c.data);
    ++frames;

    // The typed call produces the same bytes when the frame carries no hand-made body.
    auto m = ari::find_operation(rq.method, f["uri"].get<std::string>());
    if (m) op_of_request[request_id] = m->op;
    if (m && !f.contains("message_body") && f["uri"].get<std::string>().front() != '/') {
      ari::param_list params(rq.query.begin(), rq.query.end());
      for (const auto& pp : m->path_params) params.push_back(pp);
      auto built = ari::build_request(m->op->id, params);
      REQUIRE(built.ok());
      CHECK(ari::encode_ws_request(*built, request_id, opt) == c.data);
      ++typed;
    }
  }
  CHECK(frames == 7);
  CHECK(typed >= 5);

  // Query in the uri instead of query_strings.
  ari::channels::originate o;
  o.endpoint = "Local/wait@default";
  o.app = "astra-test";
  o.channelId = "astra-ws-1";
  auto rq = ari::to_request(o);
  REQUIRE(rq.ok());
  CHECK(ari::encode_ws_request(*rq, "r9", {.transaction_id = {}, .query_in_uri = true}) ==
        R"({"type": "RESTRequest", "request_id": "r9", "method": "POST", "uri": "channels?endpoint=Local/wait@default&app=astra-test&channelId=astra-ws-1"})");
  ari::rest_request odd{"POST", "/ari/x", {{"k", "\xC3\xA9\"\n"}}, std::nullopt};
  CHECK(ari::encode_ws_request(odd, "r", {}) ==
        R"({"type": "RESTRequest", "request_id": "r", "method": "POST", "uri": "x", "query_strings": [{"name": "k", "value": "\u00e9\"\n"}]})");

  // RESTResponse frames decode and map to typed results / errors.
  std::size_t responses = 0, ok = 0, failed = 0;
  for (const auto& c : chunks) {
    if (c.dir != "ws-in") continue;
    json f = json::parse(c.data);
    if (f["type"] != "RESTResponse") {
      CHECK(ari::decode_ws_response(c.data).code() == ari::codec_errc::invalid_frame);
      continue;
    }
    INFO(c.data);
    auto r = ari::decode_ws_response(c.data);
    REQUIRE(r.ok());
    ++responses;
    CHECK(r->request_id == f["request_id"].get<std::string>());
    CHECK(r->status_code == f["status_code"].get<int>());
    CHECK(r->reason_phrase == f["reason_phrase"].get<std::string>());
    CHECK(r->message_body.has_value() == f.contains("message_body"));
    auto it = op_of_request.find(r->request_id);
    const auto id = it != op_of_request.end() ? it->second->id : ari::operation_id::asterisk_ping;
    auto body = ari::decode_response_json(id, static_cast<int>(r->status_code), r->message_body.value_or(""),
                                          r->reason_phrase);
    if (r->status_code / 100 == 2) {
      REQUIRE(body.ok());
      if (r->message_body) CHECK(json::parse(*body) == json::parse(*r->message_body));
      ++ok;
    } else {
      REQUIRE_FALSE(body.ok());
      CHECK(ari::http_status(body.error()) == r->status_code);
      if (r->message_body) CHECK(body.error().detail == json::parse(*r->message_body)["message"].get<std::string>());
      else CHECK(body.error().detail == r->reason_phrase);
      ++failed;
    }
  }
  CHECK(responses == 9);
  CHECK(ok == 5);
  CHECK(failed == 4);
}
