/* The reference for cbuff-relay's speed: a plain libnats JetStream publisher, written as the
 * nats.c examples do, publishing COUNT 8-byte messages asynchronously (at most WINDOW in flight,
 * each with a Nats-Msg-Id header like the relay's) into STREAM on SUBJECT, then waiting for every
 * acknowledgement. Prints "anchor=libnats_js_publish_async metric=items_per_s value=V unit=items/s".
 *
 *   cc -O2 -o plain-publisher plain-publisher.c -lnats
 *   plain-publisher URL STREAM SUBJECT COUNT [WINDOW] */
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: plain-publisher URL STREAM SUBJECT COUNT [WINDOW]\n"); return 64; }
    const char *url = argv[1], *stream = argv[2], *subject = argv[3];
    long count = atol(argv[4]), window = argc > 5 ? atol(argv[5]) : 256;
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsOptions jo;
    jsErrCode jerr = 0;
    if (natsConnection_ConnectTo(&nc, url) != NATS_OK) { fprintf(stderr, "cannot connect\n"); return 1; }
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = window;
    if (natsConnection_JetStream(&js, nc, &jo) != NATS_OK) return 1;
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = stream;
    cfg.Subjects = (const char *[1]){subject};
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    jsStreamInfo *si = NULL;
    if (js_AddStream(&si, js, &cfg, NULL, &jerr) != NATS_OK) { fprintf(stderr, "cannot add stream (%d)\n", jerr); return 1; }
    jsStreamInfo_Destroy(si);
    double start = now();
    char id[64];
    for (long i = 0; i < count; i++) {
        natsMsg *msg = NULL;
        uint64_t value = (uint64_t)i;
        natsMsg_Create(&msg, subject, NULL, (const char *)&value, sizeof value);
        snprintf(id, sizeof id, "plain:%ld", i);
        natsMsgHeader_Set(msg, "Nats-Msg-Id", id);
        if (js_PublishMsgAsync(js, &msg, NULL) != NATS_OK) { natsMsg_Destroy(msg); fprintf(stderr, "publish failed\n"); return 1; }
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 60000;
    if (js_PublishAsyncComplete(js, &po) != NATS_OK) { fprintf(stderr, "not every publish was acknowledged\n"); return 1; }
    printf("anchor=libnats_js_publish_async metric=items_per_s value=%.6g unit=items/s\n", count / (now() - start));
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return 0;
}
