// Batched UDP for the listeners: recvmmsg and sendmmsg on a socket's
// descriptor, driven by libuv (uv_poll) so it stays in Node's event loop.
// Datagrams cross to JavaScript through memory it allocated: one call per
// batch of up to BATCH datagrams in, one sendmmsg per batch of answers out.
//
// A slot's metadata (META bytes, host byte order): u32 length, u16 port,
// u8 family (4 or 6), u8 flags (1: the datagram was longer than SLOT and is
// cut), at 8 the 4 or 16 address bytes, at 24 an IPv6 address's u32 scope
// id. Received datagrams go to rx slot i (SLOT bytes each); answers are read
// from tx slot i likewise.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#define BATCH 64
#define SLOT 4096
#define META 32
/** recvmmsg rounds per wake-up before the loop gets a turn (timers, upstream replies). */
#define ROUNDS 4

typedef struct {
  uv_poll_t poll;
  int fd;
  int polling;
  int closed;
  napi_env env;
  napi_ref callback;
  napi_ref receiver;
  napi_ref buffers[4];
  napi_async_context async;
  napi_async_cleanup_hook_handle cleanup;
  uint8_t *rx, *rx_meta, *tx, *tx_meta;
  /** Answers the kernel would not take (send buffer full) or refused. */
  double send_dropped;
  struct mmsghdr rmsg[BATCH];
  struct iovec riov[BATCH];
  struct sockaddr_storage raddr[BATCH];
  struct mmsghdr tmsg[BATCH];
  struct iovec tiov[BATCH];
  struct sockaddr_storage taddr[BATCH];
} Udp;

#define CHECK(env, call)                                   \
  do {                                                     \
    if ((call) != napi_ok) {                               \
      napi_throw_error((env), NULL, "udp addon: " #call); \
      return NULL;                                         \
    }                                                      \
  } while (0)

static void write_meta(uint8_t *meta, uint32_t len, int truncated, const struct sockaddr_storage *ss) {
  memcpy(meta, &len, 4);
  meta[7] = truncated ? 1 : 0;
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    uint16_t port = ntohs(a->sin6_port);
    memcpy(meta + 4, &port, 2);
    meta[6] = 6;
    memcpy(meta + 8, &a->sin6_addr, 16);
    memcpy(meta + 24, &a->sin6_scope_id, 4);
  } else {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    uint16_t port = ntohs(a->sin_port);
    memcpy(meta + 4, &port, 2);
    meta[6] = 4;
    memcpy(meta + 8, &a->sin_addr, 4);
  }
}

static socklen_t read_meta(const uint8_t *meta, uint32_t *len, struct sockaddr_storage *ss) {
  uint16_t port;
  memcpy(len, meta, 4);
  memcpy(&port, meta + 4, 2);
  memset(ss, 0, sizeof(*ss));
  if (meta[6] == 6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    memcpy(&a->sin6_addr, meta + 8, 16);
    memcpy(&a->sin6_scope_id, meta + 24, 4);
    return sizeof(*a);
  }
  struct sockaddr_in *a = (struct sockaddr_in *)ss;
  a->sin_family = AF_INET;
  a->sin_port = htons(port);
  memcpy(&a->sin_addr, meta + 8, 4);
  return sizeof(*a);
}

/** Sends tx slots [0, n): what the kernel refuses is skipped, what it cannot take now (EAGAIN) is dropped and counted. */
static int send_batch(Udp *u, int n) {
  if (n > BATCH) n = BATCH;
  for (int i = 0; i < n; i++) {
    uint32_t len;
    socklen_t alen = read_meta(u->tx_meta + i * META, &len, &u->taddr[i]);
    if (len > SLOT) len = 0;
    u->tiov[i].iov_base = u->tx + (size_t)i * SLOT;
    u->tiov[i].iov_len = len;
    struct msghdr *h = &u->tmsg[i].msg_hdr;
    memset(h, 0, sizeof(*h));
    h->msg_name = &u->taddr[i];
    h->msg_namelen = alen;
    h->msg_iov = &u->tiov[i];
    h->msg_iovlen = 1;
  }
  int at = 0, sent = 0;
  while (at < n) {
    int r = sendmmsg(u->fd, u->tmsg + at, n - at, MSG_DONTWAIT);
    if (r > 0) {
      at += r;
      sent += r;
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
      u->send_dropped += n - at;
      break;
    } else {
      // This datagram was refused (an ICMP error queued for its client, a bad address): skip it.
      u->send_dropped += 1;
      at++;
    }
  }
  return sent;
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  Udp *u = (Udp *)handle->data;
  if (status < 0 || !u->polling) return;
  napi_env env = u->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv;
  napi_get_reference_value(env, u->callback, &cb);
  napi_get_reference_value(env, u->receiver, &recv);
  for (int round = 0; round < ROUNDS && u->polling; round++) {
    for (int i = 0; i < BATCH; i++) {
      u->rmsg[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
      u->rmsg[i].msg_hdr.msg_flags = 0;
      u->rmsg[i].msg_len = 0;
    }
    int n = recvmmsg(u->fd, u->rmsg, BATCH, MSG_DONTWAIT, NULL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (int i = 0; i < n; i++) {
      int cut = (u->rmsg[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
      write_meta(u->rx_meta + i * META, u->rmsg[i].msg_len, cut, &u->raddr[i]);
    }
    napi_value argv[1], result;
    napi_create_int32(env, n, &argv[0]);
    napi_status s = napi_make_callback(env, u->async, recv, cb, 1, argv, &result);
    if (s == napi_pending_exception) {
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      napi_fatal_exception(env, err);
      break;
    }
    int32_t out = 0;
    if (s == napi_ok && napi_get_value_int32(env, result, &out) == napi_ok && out > 0 && !u->closed) send_batch(u, out);
    if (n < BATCH) break;
  }
  napi_close_handle_scope(env, scope);
}

static void on_closed(uv_handle_t *handle) {
  Udp *u = (Udp *)handle->data;
  if (u->cleanup != NULL) napi_remove_async_cleanup_hook(u->cleanup);
  free(u);
}

static void close_udp(Udp *u) {
  if (u->closed) return;
  u->closed = 1;
  u->polling = 0;
  uv_poll_stop(&u->poll);
  close(u->fd);
  uv_close((uv_handle_t *)&u->poll, on_closed);
}

/** The environment is going away (a worker thread ends) with the handle still open. */
static void on_env_cleanup(napi_async_cleanup_hook_handle hook, void *arg) {
  Udp *u = (Udp *)arg;
  u->cleanup = hook;
  close_udp(u);
}

static Udp *unwrap(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, NULL, "udp addon: not a handle");
    return NULL;
  }
  return (Udp *)p;
}

/** The handle in a call's first argument (and the rest in argv), or NULL with a JS exception pending. */
static Udp *handle_arg(napi_env env, napi_callback_info info, napi_value *argv, size_t want) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, NULL, "udp addon: missing arguments");
    return NULL;
  }
  return unwrap(env, argv[0]);
}

static uint8_t *arraybuffer(napi_env env, napi_value v, size_t need) {
  void *data = NULL;
  size_t len = 0;
  bool is;
  if (napi_is_arraybuffer(env, v, &is) != napi_ok || !is || napi_get_arraybuffer_info(env, v, &data, &len) != napi_ok || len < need) return NULL;
  return (uint8_t *)data;
}

// open(fd, rx, rxMeta, tx, txMeta, onBatch, receiver) -> handle. The descriptor is duplicated: the caller keeps its own.
static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 7) {
    napi_throw_type_error(env, NULL, "udp addon: open(fd, rx, rxMeta, tx, txMeta, onBatch, receiver)");
    return NULL;
  }
  int32_t fd;
  CHECK(env, napi_get_value_int32(env, argv[0], &fd));
  uint8_t *rx = arraybuffer(env, argv[1], (size_t)BATCH * SLOT), *rx_meta = arraybuffer(env, argv[2], BATCH * META);
  uint8_t *tx = arraybuffer(env, argv[3], (size_t)BATCH * SLOT), *tx_meta = arraybuffer(env, argv[4], BATCH * META);
  if (!rx || !rx_meta || !tx || !tx_meta) {
    napi_throw_range_error(env, NULL, "udp addon: buffers too small");
    return NULL;
  }
  uv_loop_t *loop;
  CHECK(env, napi_get_uv_event_loop(env, &loop));
  int own = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (own < 0) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  int flags = fcntl(own, F_GETFL);
  fcntl(own, F_SETFL, flags | O_NONBLOCK);
  Udp *u = calloc(1, sizeof(Udp));
  if (u == NULL) {
    close(own);
    napi_throw_error(env, NULL, "udp addon: out of memory");
    return NULL;
  }
  u->fd = own;
  u->env = env;
  u->rx = rx;
  u->rx_meta = rx_meta;
  u->tx = tx;
  u->tx_meta = tx_meta;
  for (int i = 0; i < BATCH; i++) {
    u->riov[i].iov_base = rx + (size_t)i * SLOT;
    u->riov[i].iov_len = SLOT;
    u->rmsg[i].msg_hdr.msg_name = &u->raddr[i];
    u->rmsg[i].msg_hdr.msg_iov = &u->riov[i];
    u->rmsg[i].msg_hdr.msg_iovlen = 1;
  }
  for (int i = 0; i < 4; i++) napi_create_reference(env, argv[1 + i], 1, &u->buffers[i]);
  napi_create_reference(env, argv[5], 1, &u->callback);
  napi_create_reference(env, argv[6], 1, &u->receiver);
  napi_value name;
  napi_create_string_utf8(env, "aifence:udp", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &u->async);
  if (uv_poll_init(loop, &u->poll, own) != 0) {
    close(own);
    free(u);
    napi_throw_error(env, NULL, "udp addon: uv_poll_init failed");
    return NULL;
  }
  u->poll.data = u;
  napi_add_async_cleanup_hook(env, on_env_cleanup, u, &u->cleanup);
  napi_value handle;
  CHECK(env, napi_create_external(env, u, NULL, NULL, &handle));
  return handle;
}

// start(handle): read datagrams as they come.
static napi_value Start(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Udp *u = handle_arg(env, info, argv, 1);
  if (u == NULL || u->closed) return NULL;
  u->polling = 1;
  uv_poll_start(&u->poll, UV_READABLE, on_readable);
  return NULL;
}

// stop(handle): stop reading; answers can still go out.
static napi_value Stop(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Udp *u = handle_arg(env, info, argv, 1);
  if (u == NULL || u->closed) return NULL;
  u->polling = 0;
  uv_poll_stop(&u->poll);
  return NULL;
}

// send(handle, n) -> datagrams sent from tx slots [0, n).
static napi_value Send(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Udp *u = handle_arg(env, info, argv, 2);
  if (u == NULL) return NULL;
  int32_t n;
  CHECK(env, napi_get_value_int32(env, argv[1], &n));
  int sent = u->closed || n <= 0 ? 0 : send_batch(u, n);
  napi_value out;
  CHECK(env, napi_create_int32(env, sent, &out));
  return out;
}

// dropped(handle) -> answers the kernel refused or had no room for.
static napi_value Dropped(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Udp *u = handle_arg(env, info, argv, 1);
  if (u == NULL) return NULL;
  napi_value out;
  CHECK(env, napi_create_double(env, u->send_dropped, &out));
  return out;
}

// close(handle): stop reading and close the duplicated descriptor.
static napi_value Close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Udp *u = handle_arg(env, info, argv, 1);
  if (u == NULL || u->closed) return NULL;
  for (int i = 0; i < 4; i++) napi_delete_reference(env, u->buffers[i]);
  napi_delete_reference(env, u->callback);
  napi_delete_reference(env, u->receiver);
  napi_async_destroy(env, u->async);
  close_udp(u);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
    {"open", NULL, Open, NULL, NULL, NULL, napi_default, NULL},
    {"start", NULL, Start, NULL, NULL, NULL, napi_default, NULL},
    {"stop", NULL, Stop, NULL, NULL, NULL, napi_default, NULL},
    {"send", NULL, Send, NULL, NULL, NULL, napi_default, NULL},
    {"dropped", NULL, Dropped, NULL, NULL, NULL, napi_default, NULL},
    {"close", NULL, Close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  napi_value batch, slot, meta;
  napi_create_int32(env, BATCH, &batch);
  napi_create_int32(env, SLOT, &slot);
  napi_create_int32(env, META, &meta);
  napi_set_named_property(env, exports, "BATCH", batch);
  napi_set_named_property(env, exports, "SLOT", slot);
  napi_set_named_property(env, exports, "META", meta);
  return exports;
}
