/* floor.c: the floor of the benchmark, the least work a chat server can do.
 *
 * One process, one thread, epoll, non-blocking sockets. A broadcast builds
 * its WebSocket frame once and copies it to every member; nothing else
 * happens per delivery. Two ways to hand the bytes to the kernel:
 *
 *   naive (default)  one send() per delivery, at once: the floor of a
 *                    server that writes each frame as it is made;
 *   --batched        everything queued for a connection during one epoll
 *                    pass goes out in one send() at the end of the pass, as
 *                    chatd does with the messages of one group commit: the
 *                    floor of a server that coalesces its writes.
 *
 * No server that writes the same way can beat the matching floor on one
 * core, so each is a ceiling the others are compared against.
 *
 * It speaks the same subset of chatd's protocol as the other peers
 * (identify, create, join, say; presence on join/leave; every answer
 * carries the request's cid) but parses only what the load generator
 * sends: compact JSON, unfragmented text frames up to 64 KiB. Strings are
 * copied from the request into the answer still JSON-escaped, which keeps
 * them valid JSON without decoding them.
 *
 *   cc -O2 -o floor peers/floor.c && ./floor PORT [--batched]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS (1 << 17)
#define MAX_PAYLOAD 65536
#define MAX_STR 256      /* longest name / room / cid we keep */
#define MAX_ROOMS_PER_CONN 8
#define ROOM_SLOTS (1 << 17) /* open-addressing table of room names */

typedef struct Conn {
    int fd, upgraded, dead, user_id;
    int queued;  /* --batched: at pending[queued - 1], its output goes out at the end of this pass */
    int writing; /* EPOLLOUT is on: the kernel took less than we had */
    char *in; size_t in_len, in_cap;    /* unparsed input, only when a frame is split */
    char *out; size_t out_len, out_cap; /* output the kernel did not take yet */
    char name[MAX_STR];
    int nrooms, rooms[MAX_ROOMS_PER_CONN];
} Conn;

typedef struct Room { char name[MAX_STR]; Conn **members; int n, cap; } Room;

static Conn *conns[MAX_FDS];
static Room *rooms[ROOM_SLOTS];
static int epfd, next_user = 1;
static int batched;          /* --batched: one send() per connection per epoll pass */
static int pending[MAX_FDS]; /* --batched: fds with output queued during this pass, each once */
static int npending;
static long long next_message = 1;
static char scratch[MAX_PAYLOAD * 2 + 1024]; /* one answer's payload */
static char framebuf[MAX_PAYLOAD * 2 + 1024 + 10];

/* ---- SHA-1 and base64, for the handshake's Sec-WebSocket-Accept only ---- */

static uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1(const unsigned char *data, size_t len, unsigned char out[20]) {
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    size_t padded = ((len + 8) / 64 + 1) * 64;
    unsigned char *msg = calloc(padded, 1);
    memcpy(msg, data, len);
    msg[len] = 0x80;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++) msg[padded - 1 - i] = (unsigned char)(bits >> (8 * i));
    for (size_t off = 0; off < padded; off += 64) {
        uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t)msg[off + 4 * i] << 24 | (uint32_t)msg[off + 4 * i + 1] << 16 |
                   (uint32_t)msg[off + 4 * i + 2] << 8 | msg[off + 4 * i + 3];
        for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        for (int i = 0; i < 80; i++) {
            uint32_t f, k;
            if (i < 20) { f = (b & c) | (~b & d); k = 0x5A827999; }
            else if (i < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1; }
            else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDC; }
            else { f = b ^ c ^ d; k = 0xCA62C1D6; }
            uint32_t t = rol(a, 5) + f + e + k + w[i];
            e = d; d = c; c = rol(b, 30); b = a; a = t;
        }
        h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
    }
    free(msg);
    for (int i = 0; i < 20; i++) out[i] = (unsigned char)(h[i / 4] >> (24 - 8 * (i % 4)));
}

static void base64(const unsigned char *in, size_t len, char *out) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < len ? in[i + 2] : 0);
        out[o++] = t[(v >> 18) & 63];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = i + 1 < len ? t[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? t[v & 63] : '=';
    }
    out[o] = 0;
}

/* ---- output ---- */

static void want_write(Conn *c, int on) {
    if (c->writing == on) return;
    c->writing = on;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.fd = c->fd};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void append(char **buf, size_t *len, size_t *cap, const char *data, size_t n) {
    if (*len + n > *cap) {
        *cap = (*len + n) * 2;
        *buf = realloc(*buf, *cap);
    }
    memcpy(*buf + *len, data, n);
    *len += n;
}

/* Naive: the one system call per delivery, send() what we can, keep the rest.
 * Batched: only queue it; flush_pending() sends it at the end of the pass. */
static void send_bytes(Conn *c, const char *data, size_t n) {
    if (c->dead) return;
    if (batched) {
        if (!c->queued && !c->writing) { pending[npending++] = c->fd; c->queued = npending; }
        append(&c->out, &c->out_len, &c->out_cap, data, n);
        return;
    }
    if (c->out_len == 0) {
        ssize_t w = send(c->fd, data, n, MSG_NOSIGNAL);
        if (w == (ssize_t)n) return;
        if (w < 0) {
            if (errno != EAGAIN) { c->dead = 1; return; }
            w = 0;
        }
        data += w; n -= (size_t)w;
        want_write(c, 1);
    }
    append(&c->out, &c->out_len, &c->out_cap, data, n);
}

/* Send what is waiting (one send()); wait for EPOLLOUT if the kernel took less. */
static void flush(Conn *c) {
    ssize_t w = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
    if (w < 0) { if (errno != EAGAIN) c->dead = 1; else want_write(c, 1); return; }
    memmove(c->out, c->out + w, c->out_len - (size_t)w);
    c->out_len -= (size_t)w;
    want_write(c, c->out_len > 0);
}

/* --batched, at the end of each epoll pass: one send() per connection written to. */
static void flush_pending(void) {
    for (int i = 0; i < npending; i++) {
        Conn *c = conns[pending[i]];
        c->queued = 0;
        if (!c->dead) flush(c);
    }
    npending = 0;
}

/* A connection closed during the pass leaves `pending` (the last entry takes its place). */
static void unqueue(Conn *c) {
    if (!c->queued) return;
    int at = c->queued - 1, moved = pending[--npending];
    pending[at] = moved;
    conns[moved]->queued = at + 1;
    c->queued = 0;
}

/* Frame a payload (server frames are unmasked) into framebuf; returns its length. */
static size_t frame(const char *payload, size_t n, char *dst) {
    size_t h = 0;
    dst[h++] = (char)0x81;
    if (n < 126) dst[h++] = (char)n;
    else if (n < 65536) { dst[h++] = 126; dst[h++] = (char)(n >> 8); dst[h++] = (char)n; }
    else { dst[h++] = 127; for (int i = 7; i >= 0; i--) dst[h++] = (char)((uint64_t)n >> (8 * i)); }
    memcpy(dst + h, payload, n);
    return h + n;
}

static void send_text(Conn *c, const char *payload, size_t n) {
    char *buf = n + 10 <= sizeof framebuf ? framebuf : malloc(n + 10);
    send_bytes(c, buf, frame(payload, n, buf));
    if (buf != framebuf) free(buf);
}

/* ---- rooms ---- */

static unsigned hash(const char *s) {
    unsigned h = 2166136261u;
    while (*s) h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

static int room_index(const char *name) {
    unsigned i = hash(name) & (ROOM_SLOTS - 1);
    while (rooms[i] && strcmp(rooms[i]->name, name) != 0) i = (i + 1) & (ROOM_SLOTS - 1);
    if (!rooms[i]) {
        rooms[i] = calloc(1, sizeof(Room));
        snprintf(rooms[i]->name, MAX_STR, "%s", name);
    }
    return (int)i;
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void presence(Room *r, Conn *who, const char *event) {
    int n = snprintf(scratch, sizeof scratch,
                     "{\"type\":\"presence\",\"room\":\"%s\",\"event\":\"%s\",\"user\":{\"id\":%d,\"name\":\"%s\"}}",
                     r->name, event, who->user_id, who->name);
    size_t len = frame(scratch, (size_t)n, framebuf);
    for (int i = 0; i < r->n; i++)
        if (r->members[i] != who) send_bytes(r->members[i], framebuf, len);
}

/* ---- requests ---- */

/* The still-escaped value of "key":"..." in a compact JSON object, or -1. */
static int get_str(const char *json, const char *key, char *out, size_t max) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(json, pat);
    if (!p) return -1;
    p += strlen(pat);
    size_t n = 0;
    for (; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1]) { if (n + 1 < max) out[n++] = *p; p++; }
        if (n + 1 < max) out[n++] = *p;
    }
    out[n] = 0;
    return (int)n;
}

/* Append ,"cid":"..." when the request had one, then close the object. */
static int finish(char *buf, int n, const char *cid) {
    if (cid[0]) n += snprintf(buf + n, sizeof scratch - (size_t)n, ",\"cid\":\"%s\"", cid);
    buf[n++] = '}';
    return n;
}

static void handle(Conn *c, const char *json) {
    static char type[32], cid[MAX_STR], room[MAX_STR], text[MAX_PAYLOAD];
    int n;
    get_str(json, "type", type, sizeof type);
    if (get_str(json, "cid", cid, sizeof cid) < 0) cid[0] = 0;
    get_str(json, "room", room, sizeof room);
    if (!c->user_id && strcmp(type, "identify") != 0) {
        n = snprintf(scratch, sizeof scratch, "{\"type\":\"error\",\"code\":\"not_identified\",\"message\":\"identify first\"");
    } else if (strcmp(type, "identify") == 0) {
        c->user_id = next_user++;
        get_str(json, "name", c->name, sizeof c->name);
        n = snprintf(scratch, sizeof scratch,
                     "{\"type\":\"welcome\",\"session\":\"s%d\",\"user\":{\"id\":%d,\"name\":\"%s\"},"
                     "\"token\":\"\",\"messages\":[],\"more\":false",
                     c->user_id, c->user_id, c->name);
    } else if (strcmp(type, "create") == 0) {
        n = snprintf(scratch, sizeof scratch, "{\"type\":\"created\",\"room\":{\"name\":\"%s\",\"topic\":\"\"}", room);
    } else if (strcmp(type, "join") == 0) {
        int ri = room_index(room), already = 0;
        Room *r = rooms[ri];
        for (int i = 0; i < c->nrooms; i++) already |= c->rooms[i] == ri;
        if (!already && c->nrooms < MAX_ROOMS_PER_CONN) {
            presence(r, c, "join");
            if (r->n == r->cap) { r->cap = r->cap ? r->cap * 2 : 16; r->members = realloc(r->members, sizeof(Conn *) * (size_t)r->cap); }
            r->members[r->n++] = c;
            c->rooms[c->nrooms++] = ri;
        }
        size_t cap = (size_t)r->n * (MAX_STR + 32) + 1024, len = 0;
        char *buf = malloc(cap);
        len += (size_t)snprintf(buf, cap, "{\"type\":\"joined\",\"room\":\"%s\",\"topic\":\"\",\"members\":[", room);
        for (int i = 0; i < r->n; i++)
            len += (size_t)snprintf(buf + len, cap - len, "%s{\"id\":%d,\"name\":\"%s\"}", i ? "," : "",
                                    r->members[i]->user_id, r->members[i]->name);
        len += (size_t)snprintf(buf + len, cap - len, "],\"messages\":[],\"more\":false%s%s%s}",
                                cid[0] ? ",\"cid\":\"" : "", cid, cid[0] ? "\"" : "");
        send_text(c, buf, len);
        free(buf);
        return;
    } else if (strcmp(type, "say") == 0) {
        int ri = room_index(room), member = 0;
        for (int i = 0; i < c->nrooms; i++) member |= c->rooms[i] == ri;
        if (!member) {
            n = snprintf(scratch, sizeof scratch, "{\"type\":\"error\",\"code\":\"not_in_room\",\"message\":\"join first\"");
        } else {
            long long id = next_message++, ts = now_ms();
            n = snprintf(scratch, sizeof scratch, "{\"type\":\"ack\",\"id\":%lld,\"ts\":%lld", id, ts);
            n = finish(scratch, n, cid);
            send_text(c, scratch, (size_t)n);
            get_str(json, "text", text, sizeof text);
            Room *r = rooms[ri];
            n = snprintf(scratch, sizeof scratch,
                         "{\"type\":\"message\",\"id\":%lld,\"room\":\"%s\",\"from\":{\"id\":%d,\"name\":\"%s\"},"
                         "\"text\":\"%s\",\"ts\":%lld}",
                         id, room, c->user_id, c->name, text, ts);
            size_t len = frame(scratch, (size_t)n, framebuf); /* built once ... */
            for (int i = 0; i < r->n; i++) send_bytes(r->members[i], framebuf, len); /* ... sent per member */
            return;
        }
    } else {
        n = snprintf(scratch, sizeof scratch, "{\"type\":\"error\",\"code\":\"unknown_type\",\"message\":\"%s\"", type);
    }
    n = finish(scratch, n, cid);
    send_text(c, scratch, (size_t)n);
}

/* ---- connections ---- */

static void close_conn(Conn *c) {
    for (int k = 0; k < c->nrooms; k++) {
        Room *r = rooms[c->rooms[k]];
        for (int i = 0; i < r->n; i++)
            if (r->members[i] == c) { r->members[i] = r->members[--r->n]; break; }
        presence(r, c, "leave");
    }
    unqueue(c);
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    conns[c->fd] = NULL;
    free(c->in);
    free(c->out);
    free(c);
}

static const char *HANDSHAKE =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n";

/* Consume what we can of buf: the HTTP upgrade, then whole frames.
 * Returns bytes consumed, or -1 when the connection must close. */
static long consume(Conn *c, char *buf, size_t len) {
    size_t pos = 0;
    if (!c->upgraded) {
        char *end = memmem(buf, len, "\r\n\r\n", 4);
        if (!end) return len > 8192 ? -1 : 0;
        *end = 0;
        char *key = strcasestr(buf, "Sec-WebSocket-Key:");
        if (!key) return -1;
        key += 18;
        while (*key == ' ') key++;
        char src[128], accept[64], resp[256];
        size_t kl = strcspn(key, "\r\n");
        if (kl > 60) return -1;
        int sl = snprintf(src, sizeof src, "%.*s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", (int)kl, key);
        unsigned char digest[20];
        sha1((unsigned char *)src, (size_t)sl, digest);
        base64(digest, 20, accept);
        int rl = snprintf(resp, sizeof resp, HANDSHAKE, accept);
        send_bytes(c, resp, (size_t)rl);
        c->upgraded = 1;
        pos = (size_t)(end - buf) + 4;
    }
    while (len - pos >= 2) {
        unsigned char *p = (unsigned char *)buf + pos;
        int opcode = p[0] & 0x0f, masked = p[1] & 0x80;
        uint64_t n = p[1] & 0x7f;
        size_t h = 2;
        if (n == 126) { if (len - pos < 4) break; n = (uint64_t)p[2] << 8 | p[3]; h = 4; }
        else if (n == 127) { if (len - pos < 10) break; n = 0; for (int i = 0; i < 8; i++) n = n << 8 | p[2 + i]; h = 10; }
        if (n > MAX_PAYLOAD) return -1;
        if (masked) h += 4;
        if (len - pos < h + n) break;
        unsigned char *data = p + h;
        if (masked) for (uint64_t i = 0; i < n; i++) data[i] ^= p[h - 4 + (i & 3)];
        if (opcode == 1) {
            char saved = (char)data[n];
            data[n] = 0; /* the byte after the payload is ours to borrow (buffers carry one spare byte) */
            handle(c, (char *)data);
            data[n] = (unsigned char)saved;
        } else if (opcode == 8) {
            return -1;
        } else if (opcode == 9) {
            char pong[MAX_PAYLOAD + 10];
            size_t fl = frame((char *)data, (size_t)n, pong);
            pong[0] = (char)0x8A;
            send_bytes(c, pong, fl);
        }
        pos += h + (size_t)n;
    }
    return (long)pos;
}

static void on_readable(Conn *c) {
    static char rbuf[1 << 16];
    for (;;) {
        ssize_t r = read(c->fd, rbuf, sizeof rbuf - 1);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) { close_conn(c); return; }
        if (r < 0) break;
        char *buf = rbuf;
        size_t len = (size_t)r;
        if (c->in_len) { /* a frame was split: parse from the connection's own buffer */
            append(&c->in, &c->in_len, &c->in_cap, rbuf, len + 1);
            c->in_len--; /* the spare byte */
            buf = c->in; len = c->in_len;
        }
        long used = consume(c, buf, len);
        if (used < 0 || c->dead) { close_conn(c); return; }
        size_t rest = len - (size_t)used;
        if (buf == c->in) { memmove(c->in, c->in + used, rest); c->in_len = rest; }
        else if (rest) { c->in_len = 0; append(&c->in, &c->in_len, &c->in_cap, buf + used, rest + 1); c->in_len--; }
        if (r < (ssize_t)sizeof rbuf - 1) break;
    }
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 8080, one = 1;
    batched = argc > 2 && strcmp(argv[2], "--batched") == 0;
    signal(SIGPIPE, SIG_IGN);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, SOMAXCONN) < 0) { perror("floor: listen"); return 1; }
    epfd = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd}, events[512];
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
    printf("floor peer (%s) on 127.0.0.1:%d\n", batched ? "batched per loop pass" : "naive: 1 send/delivery", port);
    fflush(stdout);
    for (;;) {
        int n = epoll_wait(epfd, events, 512, -1);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                int cfd;
                while ((cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (cfd >= MAX_FDS) { close(cfd); continue; }
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    Conn *c = calloc(1, sizeof(Conn));
                    c->fd = cfd;
                    conns[cfd] = c;
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = cfd};
                    epoll_ctl(epfd, EPOLL_CTL_ADD, cfd, &cev);
                }
                continue;
            }
            Conn *c = conns[fd];
            if (!c) continue;
            if (events[i].events & EPOLLOUT) flush(c);
            if (c->dead) { close_conn(c); continue; }
            if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
        }
        if (batched) flush_pending();
    }
}
