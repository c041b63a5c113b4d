#include "gofer/protocol.h"

#include <errno.h>
#include <sys/socket.h>

namespace moat::gofer {

Attr AttrFromStat(const struct stat& st) {
  Attr a;
  a.dev = st.st_dev;
  a.ino = st.st_ino;
  a.mode = st.st_mode;
  a.nlink = static_cast<uint32_t>(st.st_nlink);
  a.uid = st.st_uid;
  a.gid = st.st_gid;
  a.rdev = st.st_rdev;
  a.size = st.st_size;
  a.blksize = st.st_blksize;
  a.blocks = st.st_blocks;
  a.atime = {st.st_atim.tv_sec, st.st_atim.tv_nsec};
  a.mtime = {st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
  a.ctime = {st.st_ctim.tv_sec, st.st_ctim.tv_nsec};
  return a;
}

bool ValidName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxName && name != "." && name != ".." &&
         name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

}  // namespace moat::gofer
