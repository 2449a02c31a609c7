// erds_submit_bench: an end-to-end load client for erdsd's message API over HTTPS (keep-alive,
// verified TLS). Modes:
//   submit: POST /api/v1/messages (multipart, one file of --size bytes) from --threads clients,
//           closed loop (--rate 0) or paced at --rate msgs/s; prints msgs/s and p50/p90/p99 (ms).
//   big:    submits one --size attachment (streamed from a generator), then downloads it as the
//           recipient after acceptance is not needed (basic mode, to the sender itself), and
//           prints erdsd's VmHWM/VmRSS before and after (--pid).
// Usage: erds_submit_bench --port P --ca root-ca.pem --user sender --password sender-demo-password
//          [--mode submit|big] [--threads 8] [--seconds 20] [--rate 0] [--size 10240] [--pid PID]
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/StreamCopier.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

std::map<std::string, std::string> parseArgs(int argc, char** argv) {
  std::map<std::string, std::string> a = {{"mode", "submit"}, {"threads", "8"}, {"seconds", "20"}, {"rate", "0"},
                                          {"size", "10240"},  {"user", "sender"}, {"password", "sender-demo-password"},
                                          {"host", "localhost"}, {"pid", "0"}};
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k.rfind("--", 0) == 0) a[k.substr(2)] = argv[i + 1];
  }
  return a;
}

std::string status(long pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + ":", 0) == 0) return line.substr(key.size() + 1);
  return "?";
}

class Conn {
 public:
  Conn(const std::string& host, uint16_t port, Poco::Net::Context::Ptr ctx) : s_(host, port, ctx) {
    s_.setKeepAlive(true);
    s_.setTimeout(Poco::Timespan(120, 0));
  }
  int call(const std::string& method, const std::string& target, const std::string& token, const std::string& ct,
           const std::string& body, std::string* out) {
    Poco::Net::HTTPRequest req(method, target, Poco::Net::HTTPMessage::HTTP_1_1);
    if (!token.empty()) req.set("Authorization", "Bearer " + token);
    if (!ct.empty()) {
      req.setContentType(ct);
      req.setContentLength64(static_cast<Poco::Int64>(body.size()));
    }
    s_.sendRequest(req) << body;
    Poco::Net::HTTPResponse resp;
    std::istream& in = s_.receiveResponse(resp);
    std::ostringstream o;
    Poco::StreamCopier::copyStream(in, o);
    if (out) *out = o.str();
    return resp.getStatus();
  }
  Poco::Net::HTTPSClientSession& session() { return s_; }

 private:
  Poco::Net::HTTPSClientSession s_;
};

const std::string kBoundary = "bench-boundary-7f3a";

std::string head(const std::string& recipient, int64_t) {
  return "--" + kBoundary + "\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n" +
         R"({"recipients":[")" + recipient + R"("],"consignment_mode":"basic","required_recipient_level":"low"})" +
         "\r\n--" + kBoundary +
         "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bench.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n";
}
const std::string kTail = "\r\n--" + kBoundary + "--\r\n";

}  // namespace

int main(int argc, char** argv) {
  auto a = parseArgs(argc, argv);
  if (!a.count("port") || !a.count("ca")) {
    std::cerr << "usage: erds_submit_bench --port P --ca root-ca.pem [--mode submit|big] [--threads N] [--seconds S]"
                 " [--rate R] [--size BYTES] [--pid ERDSD_PID]\n";
    return 2;
  }
  Poco::Net::initializeSSL();
  const uint16_t port = static_cast<uint16_t>(std::stoi(a["port"]));
  Poco::Net::Context::Ptr ctx = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, "", "", a["ca"],
                                                       Poco::Net::Context::VERIFY_STRICT, 9, false, "ALL");
  const std::string me = "mailto:" + a["user"] + "@example.test";
  std::string token;
  {
    Conn c(a["host"], port, ctx);
    std::string out;
    int st = c.call("POST", "/api/v1/sessions", "", "application/json",
                    R"({"identifier":")" + me + R"(","password":")" + a["password"] + "\"}", &out);
    if (st != 201 && st != 200) {
      std::cerr << "login failed: " << st << " " << out << "\n";
      return 1;
    }
    token = Poco::JSON::Parser().parse(out).extract<Poco::JSON::Object::Ptr>()->getValue<std::string>("token");
  }
  const int64_t size = std::stoll(a["size"]);
  const long pid = std::stol(a["pid"]);

  if (a["mode"] == "big") {
    std::cout << "erdsd before: VmHWM" << status(pid, "VmHWM") << " VmRSS" << status(pid, "VmRSS") << "\n";
    Conn c(a["host"], port, ctx);
    const std::string h = head(me, size);
    Poco::Net::HTTPRequest req("POST", "/api/v1/messages", Poco::Net::HTTPMessage::HTTP_1_1);
    req.set("Authorization", "Bearer " + token);
    req.setContentType("multipart/form-data; boundary=" + kBoundary);
    req.setContentLength64(static_cast<Poco::Int64>(h.size() + static_cast<std::size_t>(size) + kTail.size()));
    auto t0 = Clock::now();
    std::ostream& os = c.session().sendRequest(req);
    os << h;
    std::string block(1 << 20, 'z');
    for (int64_t left = size; left > 0;) {
      const auto n = static_cast<std::size_t>(std::min<int64_t>(left, static_cast<int64_t>(block.size())));
      os.write(block.data(), static_cast<std::streamsize>(n));
      left -= static_cast<int64_t>(n);
    }
    os << kTail;
    Poco::Net::HTTPResponse resp;
    std::ostringstream body;
    Poco::StreamCopier::copyStream(c.session().receiveResponse(resp), body);
    auto t1 = Clock::now();
    std::cout << "submit: " << resp.getStatus() << " in " << std::chrono::duration<double>(t1 - t0).count() << " s\n";
    if (resp.getStatus() != 201) {
      std::cerr << body.str() << "\n";
      return 1;
    }
    std::cout << "erdsd after submit: VmHWM" << status(pid, "VmHWM") << " VmRSS" << status(pid, "VmRSS") << "\n";
    const std::string id =
        Poco::JSON::Parser().parse(body.str()).extract<Poco::JSON::Object::Ptr>()->getValue<std::string>("message_id");
    // Wait for ContentConsignment (basic mode), then download, discarding the bytes.
    for (int i = 0; i < 600; ++i) {
      Poco::Net::HTTPRequest g("GET", "/api/v1/messages/" + id + "/content", Poco::Net::HTTPMessage::HTTP_1_1);
      g.set("Authorization", "Bearer " + token);
      Conn d(a["host"], port, ctx);
      d.session().sendRequest(g);
      Poco::Net::HTTPResponse r;
      std::istream& in = d.session().receiveResponse(r);
      if (r.getStatus() == 409) {
        std::ostringstream skip;
        Poco::StreamCopier::copyStream(in, skip);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      auto t2 = Clock::now();
      std::vector<char> buf(1 << 16);
      int64_t got = 0;
      while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) got += in.gcount();
      auto t3 = Clock::now();
      std::cout << "download: " << r.getStatus() << " " << got << " bytes in "
                << std::chrono::duration<double>(t3 - t2).count() << " s\n";
      break;
    }
    std::cout << "erdsd after download: VmHWM" << status(pid, "VmHWM") << " VmRSS" << status(pid, "VmRSS") << "\n";
    return 0;
  }

  // submit mode
  const int threads = std::stoi(a["threads"]);
  const double seconds = std::stod(a["seconds"]);
  const double rate = std::stod(a["rate"]);
  const std::string body = head(me, size) + std::string(static_cast<std::size_t>(size), 'b') + kTail;
  std::mutex mu;
  std::vector<double> lat;
  std::atomic<int64_t> ok{0}, failed{0};
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      std::vector<double> mine;
      std::unique_ptr<Conn> c;
      const double interval = rate > 0 ? threads / rate : 0;  // seconds between this thread's sends
      auto next = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(interval * t / threads));
      while (Clock::now() < end) {
        if (rate > 0) {
          std::this_thread::sleep_until(next);
          next += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(interval));
        }
        const auto t0 = Clock::now();
        try {
          if (!c) c = std::make_unique<Conn>(a["host"], port, ctx);
          const int st = c->call("POST", "/api/v1/messages", token, "multipart/form-data; boundary=" + kBoundary, body, nullptr);
          if (st == 201) {
            ++ok;
            mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
          } else {
            ++failed;
          }
        } catch (const Poco::Exception&) {
          ++failed;
          c.reset();
        }
      }
      std::lock_guard g(mu);
      lat.insert(lat.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : ts) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) { return lat.empty() ? 0.0 : lat[std::min(lat.size() - 1, static_cast<std::size_t>(p * lat.size()))]; };
  std::printf("submitted %lld ok, %lld failed in %.1f s: %.1f msgs/s; latency ms p50 %.1f p90 %.1f p99 %.1f max %.1f\n",
              static_cast<long long>(ok.load()), static_cast<long long>(failed.load()), elapsed, ok.load() / elapsed,
              pct(0.50), pct(0.90), pct(0.99), lat.empty() ? 0.0 : lat.back());
  return failed.load() == 0 ? 0 : 1;
}
