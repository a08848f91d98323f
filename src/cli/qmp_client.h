/* A small blocking QMP client for the command line. */
#ifndef SYMBIONT_QMP_CLIENT_H
#define SYMBIONT_QMP_CLIENT_H

#include <stddef.h>

struct json_object;

struct qmp_client {
	int fd;
	int timeout_ms; /* for replies */
	struct json_tokener *tok;
	char buf[65536];
	size_t len, off;
};

/* Connects, reads the greeting and negotiates capabilities. */
int qmp_open(struct qmp_client *q, const char *path, int timeout_ms, char *err, size_t errlen);
void qmp_close(struct qmp_client *q);
/* Runs cmd (args consumed, may be NULL); *ret gets the "return" value.
 * -1 with the server's error description.  Events seen meanwhile are
 * dropped. */
int qmp_call(struct qmp_client *q, const char *cmd, struct json_object *args, struct json_object **ret, char *err,
             size_t errlen);
/* Sends cmd (args consumed) without waiting: the reply comes through
 * qmp_read, among the events.  0, or -1 with why. */
int qmp_send(struct qmp_client *q, const char *cmd, struct json_object *args, char *err, size_t errlen);
/* The next message (reply or event). */
struct json_object *qmp_read(struct qmp_client *q, int timeout_ms, char *err, size_t errlen);

#endif
