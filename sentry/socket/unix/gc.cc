// The collector of AF_UNIX sockets that only in-flight SCM_RIGHTS keep alive (Linux's unix_gc).
//
// Every file reference a receive queue holds is counted in its socket's `inflight`. A socket
// all of whose references are in flight is a candidate: nothing but a queue can reach it. A
// candidate is alive if some reference to it is not in a candidate's queue (a queue that an
// fd can still read), or if an alive candidate's queue holds it; the others are garbage, and
// their queues are purged, which drops the references that kept them.
//
// Enqueueing a message that carries sockets happens under the collector's lock, so nothing
// enters a queue while a collection counts; leaving a queue only lowers what it counts, which
// errs on the side of keeping a socket.
#include <map>
#include <set>

#include "sentry/socket/unix/endpoint.h"

namespace moat::sockets::unixsock {

namespace {

struct InFlight {
  absl::Mutex mu;
  std::set<UnixSocket*> sockets ABSL_GUARDED_BY(mu);  // those with inflight > 0
};

InFlight& in_flight() {
  static InFlight* f = new InFlight;
  return *f;
}

std::atomic<int64_t> total_in_flight{0};

UnixSocket* AsUnix(const RefPtr<vfs::FileDescription>& f) {
  return dynamic_cast<UnixSocket*>(f.get());
}

// Calls `fn` for every AF_UNIX socket queued in `s`'s receive queue, and in those of the
// connections waiting on it if it listens.
void ForEachQueued(UnixSocket* s, const std::function<void(UnixSocket*)>& fn) {
  std::vector<RefPtr<Endpoint>> embryos;
  {
    Endpoint& ep = s->ep();
    absl::MutexLock l(&ep.mu);
    for (const Message& m : ep.rcvq) {
      if (!m.unix_rights) continue;
      for (const auto& f : m.control.rights) {
        if (UnixSocket* u = AsUnix(f)) fn(u);
      }
    }
    embryos.assign(ep.acceptq.begin(), ep.acceptq.end());
  }
  for (const RefPtr<Endpoint>& e : embryos) {
    absl::MutexLock l(&e->mu);
    for (const Message& m : e->rcvq) {
      if (!m.unix_rights) continue;
      for (const auto& f : m.control.rights) {
        if (UnixSocket* u = AsUnix(f)) fn(u);
      }
    }
  }
}

// Empties `ep`'s receive queue into `out`.
void Purge(Endpoint& ep, std::deque<Message>& out) {
  absl::MutexLock l(&ep.mu);
  for (Message& m : ep.rcvq) out.push_back(std::move(m));
  ep.rcvq.clear();
  ep.rcv_bytes = 0;
}

void Collect() {
  std::deque<Message> garbage;
  {
    InFlight& f = in_flight();
    absl::MutexLock g(&f.mu);
    // Candidates, with how many of their references candidates' queues hold.
    std::map<UnixSocket*, int64_t> internal;
    for (UnixSocket* s : f.sockets) {
      if (s->RefCount() <= s->inflight) internal[s] = 0;
    }
    if (internal.empty()) return;
    for (auto& [s, n] : internal) {
      ForEachQueued(s, [&](UnixSocket* u) {
        auto it = internal.find(u);
        if (it != internal.end()) it->second++;
      });
    }
    std::set<UnixSocket*> alive;
    std::vector<UnixSocket*> work;
    for (auto& [s, n] : internal) {
      if (s->RefCount() > n) {
        alive.insert(s);
        work.push_back(s);
      }
    }
    while (!work.empty()) {
      UnixSocket* s = work.back();
      work.pop_back();
      ForEachQueued(s, [&](UnixSocket* u) {
        if (internal.count(u) && alive.insert(u).second) work.push_back(u);
      });
    }
    for (auto& [s, n] : internal) {
      if (alive.count(s)) continue;
      Purge(s->ep(), garbage);
      std::vector<RefPtr<Endpoint>> embryos;
      {
        absl::MutexLock l(&s->ep().mu);
        embryos.assign(s->ep().acceptq.begin(), s->ep().acceptq.end());
      }
      for (const RefPtr<Endpoint>& e : embryos) Purge(*e, garbage);
    }
    for (Message& m : garbage) {
      if (m.unix_rights) {
        for (const auto& r : m.control.rights) {
          if (UnixSocket* u = AsUnix(r)) {
            if (--u->inflight == 0) f.sockets.erase(u);
            total_in_flight.fetch_sub(1);
          }
        }
        m.unix_rights = false;
      }
    }
  }
  std::vector<std::pair<RefPtr<Endpoint>, size_t>> freed;
  for (Message& m : garbage) {
    if (m.sender) freed.emplace_back(std::move(m.sender), m.charge);
  }
  Endpoint::Uncharge(freed);
  // Dropping the garbage releases the sockets it held, with no lock held.
}

}  // namespace

bool HasUnixRights(const ControlMessages& c) {
  for (const auto& f : c.rights) {
    if (AsUnix(f)) return true;
  }
  return false;
}

absl::Mutex& InFlightLock() { return in_flight().mu; }

void CountInFlightLocked(const ControlMessages& c) {
  InFlight& f = in_flight();
  for (const auto& r : c.rights) {
    if (UnixSocket* u = AsUnix(r)) {
      if (u->inflight++ == 0) f.sockets.insert(u);
      total_in_flight.fetch_add(1);
    }
  }
}

void CountLanded(const ControlMessages& c) {
  InFlight& f = in_flight();
  absl::MutexLock g(&f.mu);
  for (const auto& r : c.rights) {
    if (UnixSocket* u = AsUnix(r)) {
      if (--u->inflight == 0) f.sockets.erase(u);
      total_in_flight.fetch_sub(1);
    }
  }
}

void Landed(std::deque<Message>& msgs) {
  std::vector<std::pair<RefPtr<Endpoint>, size_t>> freed;
  for (Message& m : msgs) {
    if (m.sender) freed.emplace_back(std::move(m.sender), m.charge);
    if (m.unix_rights) {
      CountLanded(m.control);
      m.unix_rights = false;
    }
  }
  Endpoint::Uncharge(freed);
}

void MaybeCollect() {
  if (total_in_flight.load(std::memory_order_relaxed) == 0) return;
  Collect();
}

}  // namespace moat::sockets::unixsock
