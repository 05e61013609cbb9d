/* The small file layer for the key envelope and the no-backup record. The
 * power-cut test VFS provides a second implementation (testvfs.c), so these
 * writes face the same simulated power cuts as SQLite's own. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store-int.h"

static int from_errno(int e)
{
  switch (e) {
  case ENOENT:
    return HW_ENOENT;
  case EEXIST:
    return HW_EEXIST;
  case ENOSPC:
    return HW_ENOSPC;
  case ENOMEM:
    return HW_ENOMEM;
  case EACCES:
  case EPERM:
    return HW_EPERM;
  case EROFS:
    return HW_EROFS;
  default:
    return HW_EIO;
  }
}

static int px_create(const char *path)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  return fd < 0 ? from_errno(errno) : fd;
}

static int px_write(int h, const void *p, size_t n)
{
  const uint8_t *b = p;
  while (n > 0) {
    ssize_t w = write(h, b, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return from_errno(errno);
    }
    b += w;
    n -= (size_t)w;
  }
  return HW_OK;
}

static int px_sync(int h)
{
  return fsync(h) != 0 ? from_errno(errno) : HW_OK;
}

static int px_close(int h)
{
  return close(h) != 0 ? HW_EIO : HW_OK;
}

static int px_rename(const char *from, const char *to)
{
  return rename(from, to) != 0 ? from_errno(errno) : HW_OK;
}

static int px_sync_dir(const char *dir)
{
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int rc = HW_OK;

  if (fd < 0)
    return from_errno(errno);
  if (fsync(fd) != 0)
    rc = from_errno(errno);
  close(fd);
  return rc;
}

static int px_unlink(const char *path)
{
  return unlink(path) != 0 && errno != ENOENT ? from_errno(errno) : HW_OK;
}

static const hw__fs posix_fs = {px_create, px_write,    px_sync,  px_close,
                                px_rename, px_sync_dir, px_unlink};

const hw__fs *hw__fs_posix(void)
{
  return &posix_fs;
}

void hw__fs_dirname(const char *path, char *out, size_t cap)
{
  const char *slash = strrchr(path, '/');

  if (!slash)
    snprintf(out, cap, ".");
  else if (slash == path)
    snprintf(out, cap, "/");
  else
    snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

int hw__fs_write_atomic(const hw__fs *fs, const char *path, const uint8_t *p, size_t n,
                        bool skip_dirsync)
{
  char tmp[4096], dir[4096];
  int h, rc;

  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
    return HW_EINVAL;
  hw__fs_dirname(path, dir, sizeof dir);
  /* A stale temp file from an earlier crash is garbage: remove it. */
  rc = fs->unlink(tmp);
  if (rc < 0)
    return rc;
  h = fs->create(tmp);
  if (h < 0)
    return h;
  rc = fs->write(h, p, n);
  if (rc == HW_OK)
    rc = fs->sync(h);
  if (fs->close(h) != HW_OK && rc == HW_OK)
    rc = HW_EIO;
  if (rc == HW_OK)
    rc = fs->rename(tmp, path);
  if (rc != HW_OK) {
    (void)fs->unlink(tmp);
    return rc;
  }
  /* The rename is durable only once the directory is (architecture §5). */
  return skip_dirsync ? HW_OK : fs->sync_dir(dir);
}

int hw__fs_read(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  size_t got = 0;

  *len = 0;
  if (fd < 0)
    return from_errno(errno);
  for (;;) {
    ssize_t r;
    if (got == cap) {
      uint8_t extra;
      r = read(fd, &extra, 1);
      close(fd);
      if (r > 0)
        return HW_ELIMIT;
      break;
    }
    r = read(fd, buf + got, cap - got);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      close(fd);
      return HW_EIO;
    }
    if (r == 0) {
      close(fd);
      break;
    }
    got += (size_t)r;
  }
  *len = got;
  return HW_OK;
}
