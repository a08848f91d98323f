/* The VM-to-VM vsock backend's group registry and wire protocol, two
 * members in one process over a private group directory: a taken CID, a
 * directory others may write, a dead member's CID free again; a connection
 * from one member to the other (handshake, acceptance, data, an orderly end
 * and a vanished peer); a policy that denies. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "host/vsock.h"

struct fix {
	char dir[64], grp[96], run[96];
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_vsock_group.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->grp, sizeof(f->grp), "%s/g", f->dir);
	snprintf(f->run, sizeof(f->run), "%s/run", f->dir);
	mkdir(f->run, 0700);
	setenv("XDG_RUNTIME_DIR", f->run, 1); /* labels/ and named groups */
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static struct vsock_backend *join(struct fix *f, uint64_t cid, const char *label, const char *policy, char *err,
                                  size_t errlen)
{
	bool usage;
	return vsock_group_open(NULL, cid, f->grp, label, policy, &usage, err, errlen);
}

static void test_registry(void **state)
{
	struct fix *f = *state;
	struct vsock_backend *a, *b, *c;
	char err[512] = "", path[200];

	assert_int_equal(vsock_group_check(3, f->grp, "", NULL, err, sizeof(err)), 0);
	a = join(f, 3, "", NULL, err, sizeof(err));
	if (!a)
		fail_msg("join: %s", err);
	assert_int_equal(vsock_group_check(4, f->grp, "", NULL, err, sizeof(err)), 0);
	assert_int_equal(vsock_group_check(3, f->grp, "", NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "CID 3 is already taken in the group"));
	assert_null(join(f, 3, "", NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "CID 3 is already taken in the group"));
	b = join(f, 4, "", NULL, err, sizeof(err));
	assert_non_null(b);
	/* A member that goes frees its CID and its files. */
	vsock_backend_destroy(a);
	snprintf(path, sizeof(path), "%s/3.sock", f->grp);
	assert_int_equal(access(path, F_OK), -1);
	c = join(f, 3, "", NULL, err, sizeof(err));
	assert_non_null(c);
	vsock_backend_destroy(c);
	vsock_backend_destroy(b);

	/* A directory others may write into, or someone else's, is refused. */
	assert_int_equal(chmod(f->grp, 0770), 0);
	assert_int_equal(vsock_group_check(3, f->grp, "", NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is not the user's own private directory"));
	assert_null(join(f, 3, "", NULL, err, sizeof(err)));
	assert_int_equal(chmod(f->grp, 0700), 0);
	/* Group names: under the per-user directory; no path tricks. */
	assert_int_equal(vsock_group_check(3, "..", "", NULL, err, sizeof(err)), -1);
	a = vsock_group_open(NULL, 3, "named", "", NULL, &(bool){ 0 }, err, sizeof(err));
	if (!a)
		fail_msg("named group: %s", err);
	snprintf(path, sizeof(path), "%s/symbiont/vsock/named/3.sock", f->run);
	assert_int_equal(access(path, F_OK), 0);
	vsock_backend_destroy(a);
}

/* One connection from a (CID 3) to b (CID 4). */
static void connect_pair(struct vsock_backend *a, struct vsock_backend *b, int *afd, int *bfd)
{
	struct vsock_handshake hs = { 0 };
	uint32_t gport = 0, pport = 0;
	uint64_t pcid = 0;
	bool pending = false;

	*afd = a->ops->connect(a, 4, 1234, 50000, &pending);
	assert_true(*afd >= 0);
	assert_true(pending);
	assert_int_equal(a->ops->reply(a, *afd), 0); /* b's guest has not said yes */
	*bfd = b->ops->accept(b);
	assert_true(*bfd >= 0);
	assert_int_equal(b->ops->handshake(b, *bfd, &hs, &gport, &pcid, &pport), 1);
	assert_int_equal(gport, 1234);
	assert_int_equal(pcid, 3);
	assert_int_equal(pport, 50000);
	assert_int_equal(b->ops->confirm(b, *bfd, gport), 0);
	assert_int_equal(a->ops->reply(a, *afd), 1);
}

static void test_stream(void **state)
{
	struct fix *f = *state;
	char err[512];
	static char buf[VSOCK_MSG_MAX + 8192], big[VSOCK_MSG_MAX + 8192];
	struct vsock_backend *a = join(f, 3, "", NULL, err, sizeof(err)), *b = join(f, 4, "", NULL, err, sizeof(err));
	bool pending;
	int afd, bfd;

	assert_non_null(a);
	assert_non_null(b);
	connect_pair(a, b, &afd, &bfd);
	assert_int_equal(a->ops->send(a, afd, "hello", 5), 5);
	assert_int_equal(b->ops->recv(b, bfd, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(b->ops->recv(b, bfd, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
	/* At most VSOCK_MSG_MAX bytes a message: the rest is the caller's to resend. */
	memset(big, 'x', sizeof(big));
	assert_int_equal(a->ops->send(a, afd, big, sizeof(big)), VSOCK_MSG_MAX);
	assert_int_equal(b->ops->recv(b, bfd, buf, VSOCK_MSG_MAX), VSOCK_MSG_MAX);
	/* An orderly end, then the stream still carries the other way. */
	assert_int_equal(a->ops->shut_wr(a, afd), 0);
	assert_int_equal(b->ops->recv(b, bfd, buf, sizeof(buf)), 0);
	assert_int_equal(b->ops->send(b, bfd, "back", 4), 4);
	assert_int_equal(a->ops->recv(a, afd, buf, sizeof(buf)), 4);
	/* A peer that closes without the end marker vanished. */
	close(bfd);
	assert_int_equal(a->ops->recv(a, afd, buf, sizeof(buf)), -2);
	close(afd);

	/* b's guest refuses (its RST closes the stream): a's connect fails. */
	afd = a->ops->connect(a, 4, 1, 50001, &pending);
	assert_true(afd >= 0);
	bfd = b->ops->accept(b);
	close(bfd);
	assert_int_equal(a->ops->reply(a, afd), -1);
	close(afd);
	/* No member, or itself: refused at once. */
	assert_int_equal(a->ops->connect(a, 9, 1, 50002, &pending), -1);
	assert_int_equal(a->ops->connect(a, 3, 1, 50002, &pending), -1);
	/* A hello that lies about its sender (a CID no member holds, a label
	 * the member does not have) or is malformed is dropped. */
	static const char *const lies[] = { "V2V1 7 5 80 -",
		                            "V2V1 3 5 80 web",
		                            "V2V1 3 0 80 -",
		                            "V2V1 3 5 80",
		                            "V2V1 3 5 80 - x",
		                            "V2V2 3 5 80 -",
		                            "" };
	for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		struct vsock_handshake hs = { 0 };
		uint32_t gp, pp;
		uint64_t pc;
		int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/4.sock", f->grp);
		assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_int_equal(send(fd, lies[i], strlen(lies[i]), 0), (ssize_t)strlen(lies[i]));
		bfd = b->ops->accept(b);
		assert_true(bfd >= 0);
		if (b->ops->handshake(b, bfd, &hs, &gp, &pc, &pp) != -1)
			fail_msg("hello '%s' accepted", lies[i]);
		close(bfd);
		close(fd);
	}
	vsock_backend_destroy(b);
	vsock_backend_destroy(a);
}

static void test_policy(void **state)
{
	struct fix *f = *state;
	char err[512], pol[200];
	struct vsock_backend *web, *db, *evil;
	bool pending;
	FILE *fp;
	int fd, bfd;

	snprintf(pol, sizeof(pol), "%s/policy", f->dir);
	fp = fopen(pol, "w");
	fputs("allow db web\nconflict web evil\n", fp);
	fclose(fp);
	web = join(f, 3, "web", pol, err, sizeof(err));
	if (!web)
		fail_msg("web: %s", err);
	db = join(f, 4, "db", pol, err, sizeof(err));
	assert_non_null(db);
	/* web -> db: the policy has no 'allow web db'. */
	assert_int_equal(web->ops->connect(web, 4, 80, 50000, &pending), -1);
	/* db -> web: allowed, and web's side agrees. */
	fd = db->ops->connect(db, 3, 80, 50000, &pending);
	assert_true(fd >= 0);
	bfd = web->ops->accept(web);
	uint32_t gp, pp;
	uint64_t pc;
	struct vsock_handshake hs = { 0 };
	assert_int_equal(web->ops->handshake(web, bfd, &hs, &gp, &pc, &pp), 1);
	close(bfd);
	close(fd);
	/* The accepting side applies its own policy: with one that allows
	 * nothing in, db drops what web's policy let out. */
	char pol2[220];
	snprintf(pol2, sizeof(pol2), "%s/policy-web", f->dir);
	fp = fopen(pol2, "w");
	fputs("allow web db\n", fp);
	fclose(fp);
	vsock_backend_destroy(web);
	web = join(f, 3, "web", pol2, err, sizeof(err));
	assert_non_null(web);
	fd = web->ops->connect(web, 4, 81, 50001, &pending);
	assert_true(fd >= 0);
	bfd = db->ops->accept(db);
	assert_true(bfd >= 0);
	assert_int_equal(db->ops->handshake(db, bfd, &hs, &gp, &pc, &pp), -1);
	close(bfd);
	assert_int_equal(web->ops->reply(web, fd), -1); /* refused */
	close(fd);
	/* A label in conflict with a running VM's refuses to start... */
	assert_int_equal(vsock_group_check(5, f->grp, "evil", pol, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--label evil: conflicts with the running VM labelled web"));
	assert_null(join(f, 5, "evil", pol, err, sizeof(err)));
	/* ... until that VM is gone. */
	vsock_backend_destroy(web);
	evil = join(f, 5, "evil", pol, err, sizeof(err));
	if (!evil)
		fail_msg("evil after web left: %s", err);
	vsock_backend_destroy(evil);
	vsock_backend_destroy(db);
	/* A bad policy file names its line. */
	fp = fopen(pol, "w");
	fputs("allow db web\nallow db\n", fp);
	fclose(fp);
	assert_int_equal(vsock_group_check(5, f->grp, "x", pol, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "policy:2: expected 'allow FROM TO'"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_registry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
