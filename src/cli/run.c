/* symbiont run: parse the options into a vm_config, build the VM, run it. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/guest.h"
#include "machine/builder.h"
#include "machine/migrate.h"
#include "symbiont/replay.h"
#include "symbiont/service.h"
#include "symbiont/vm.h"

void usage_run(void)
{
	printf("\nusage: symbiont run [options]\n"
	       "  --engine auto|emu|kvm  execution engine (default auto: kvm where it runs guest\n"
	       "                         kernel code natively, else the software engine)\n"
	       "  --kernel FILE          bzImage, ELF vmlinux or multiboot kernel\n"
	       "                         (default: the guest image in build/guest)\n"
	       "  --initrd FILE          initial ramdisk (multiboot: module 0)\n"
	       "  --append STR           kernel command line\n"
	       "  --mem SIZE             guest memory, e.g. 512M, 2G (default 512M; plain number = MiB),\n"
	       "                         at most the host's physical memory (%llu MiB here)\n"
	       "  --cpus N               vCPUs (default 1)\n"
	       "  --serial stdio|file:PATH  COM1 backend (default stdio; Ctrl-A x quits)\n"
	       "  --disk PATH[,ro][,serial=ID][,cache=lru|exclusive:SIZE]  virtio-blk disk from a raw image\n"
	       "                         (repeatable); cache: a host-side block cache, inclusive LRU or\n"
	       "                         filled with the blocks Geiger infers the guest evicted\n"
	       "  --net user[,hostfwd=tcp:HOSTPORT-:GUESTPORT]|tap:IFNAME  virtio-net (repeatable)\n"
	       "  --vsock CID[,uds=PATH][,group=NAME|DIR]  virtio-vsock with guest CID; host side on a\n"
	       "                         unix socket; the group's other VMs reachable by their CIDs\n"
	       "  --label LABEL          the VM's label in its vsock group's MAC policy\n"
	       "  --policy FILE          allow FROM TO / conflict LABEL LABEL... lines (docs/vsock.md)\n"
	       "  --api PATH             control socket (QMP) at PATH, mode 0600 (symbiont ctl PATH ...)\n"
	       "  --name NAME            name the VM: its control socket goes where symbiont ls\n"
	       "                         and symbiont ctl NAME find it\n"
	       "  --system-map FILE      the kernel's System.map, for ctl ps/lsmod/sym... (default:\n"
	       "                         System.map beside the kernel; none there, or FILE 'none':\n"
	       "                         the running kernel's kallsyms, read from guest memory)\n"
	       "  --metrics tcp:HOST:PORT  Prometheus metrics at http://HOST:PORT/metrics\n"
	       "  --cpu-model host|portable  the CPU the guest sees: the engine's own (kvm: the host's\n"
	       "                         features) or the model both engines offer, with a 2 GHz TSC, so\n"
	       "                         a snapshot moves between engines (default host; emu is always\n"
	       "                         portable)\n"
	       "  --emu-translate on|off  emu: run hot blocks as generated host code (default on) or\n"
	       "                         interpret every instruction (for debugging; docs/emu-speed.md)\n"
	       "  --gdb tcp:HOST:PORT|unix:PATH  serve gdb's remote protocol there (target remote\n"
	       "                         HOST:PORT); monitor commands need --api or --name\n"
	       "  --gdb-wait             with --gdb: the guest waits before its first instruction\n"
	       "                         until gdb continues it\n"
	       "  --record FILE          log what the guest sees from outside (interrupts, device\n"
	       "                         reads, the TSC, disk, network and rng data) to FILE, for\n"
	       "                         --replay (emu, 1 vCPU, no --vsock; docs/replay.md)\n"
	       "  --replay FILE          run the machine FILE recorded again, from the log alone (no\n"
	       "                         disk image or network needed);\n"
	       "                         reports whether it diverged (takes --serial, --api, --name,\n"
	       "                         --gdb, --checkpoint-every, --checkpoint-budget)\n"
	       "  --checkpoint-every N   with --replay: a checkpoint every N instructions, for gdb's\n"
	       "                         reverse-stepi/-continue (default with --gdb: 10000000)\n"
	       "  --checkpoint-budget SIZE  memory the checkpoints may take (default 256M); over it the\n"
	       "                         older ones are thinned out, the first kept\n"
	       "  --sched period=P,slice=S  reserve S of CPU every P for each vCPU (VSched; units\n"
	       "                         us ms s), admitted against the other VMs of this host\n"
	       "  --restore DIR          bring back the machine a snapshot (symbiont ctl NAME snapshot DIR)\n"
	       "                         holds; takes --engine, --serial, --api, --name, --metrics, --gdb only\n"
	       "  --force                with --restore: use disks that changed since the snapshot, and\n"
	       "                         (also --incoming) an engine that lacks CPU features the\n"
	       "                         snapshot's CPU offered\n"
	       "  --incoming unix:PATH|tcp:HOST:PORT  wait there for a machine sent by symbiont ctl\n"
	       "                         NAME migrate; takes the same options as --restore\n"
	       "\n"
	       "exit status: guest power-off 0, debug-exit port 0xf4 value v: (v<<1)|1,\n"
	       "usage error 2, any other failure 1\n",
	       (unsigned long long)(host_ram_size() >> 20));
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "symbiont run: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (try symbiont run --help)\n");
	return EXIT_USAGE;
}

/* tcp:localhost:PORT or tcp:A.B.C.D:PORT */
static bool metrics_spec_ok(const char *s)
{
	unsigned a, b, c, d, port;
	char tail;
	if (sscanf(s, "tcp:localhost:%u%c", &port, &tail) == 1)
		return port <= 65535;
	return sscanf(s, "tcp:%u.%u.%u.%u:%u%c", &a, &b, &c, &d, &port, &tail) == 5 && a < 256 && b < 256 && c < 256 &&
	       d < 256 && port <= 65535;
}

/* tcp:HOST:PORT (HOST a name or address, PORT 1-65535) or unix:PATH */
static bool gdb_spec_ok(const char *s)
{
	if (!strncmp(s, "unix:", 5))
		return s[5] && strlen(s + 5) < 108;
	if (strncmp(s, "tcp:", 4))
		return false;
	const char *colon = strrchr(s + 4, ':');
	char *end;
	if (!colon || colon == s + 4 || colon - (s + 4) > 255 || !colon[1])
		return false;
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	return !errno && !*end && port >= 1 && port <= 65535 && isdigit((unsigned char)colon[1]);
}

int cmd_run(int argc, char **argv)
{
	enum {
		OPT_ENGINE = 256,
		OPT_KERNEL,
		OPT_INITRD,
		OPT_APPEND,
		OPT_MEM,
		OPT_CPUS,
		OPT_SERIAL,
		OPT_DISK,
		OPT_NET,
		OPT_VSOCK,
		OPT_LABEL,
		OPT_POLICY,
		OPT_API,
		OPT_NAME,
		OPT_SYSTEM_MAP,
		OPT_METRICS,
		OPT_SCHED,
		OPT_CPU_MODEL,
		OPT_EMU_TRANSLATE,
		OPT_RESTORE,
		OPT_FORCE,
		OPT_INCOMING,
		OPT_GDB,
		OPT_GDB_WAIT,
		OPT_RECORD,
		OPT_REPLAY,
		OPT_CKPT_EVERY,
		OPT_CKPT_BUDGET
	};
	static const struct option opts[] = {
		{ "engine", required_argument, 0, OPT_ENGINE },
		{ "kernel", required_argument, 0, OPT_KERNEL },
		{ "initrd", required_argument, 0, OPT_INITRD },
		{ "append", required_argument, 0, OPT_APPEND },
		{ "mem", required_argument, 0, OPT_MEM },
		{ "cpus", required_argument, 0, OPT_CPUS },
		{ "serial", required_argument, 0, OPT_SERIAL },
		{ "help", no_argument, 0, 'h' },
		{ "disk", required_argument, 0, OPT_DISK },
		{ "net", required_argument, 0, OPT_NET },
		{ "vsock", required_argument, 0, OPT_VSOCK },
		{ "label", required_argument, 0, OPT_LABEL },
		{ "policy", required_argument, 0, OPT_POLICY },
		{ "api", required_argument, 0, OPT_API },
		{ "name", required_argument, 0, OPT_NAME },
		{ "system-map", required_argument, 0, OPT_SYSTEM_MAP },
		{ "metrics", required_argument, 0, OPT_METRICS },
		{ "sched", required_argument, 0, OPT_SCHED },
		{ "cpu-model", required_argument, 0, OPT_CPU_MODEL },
		{ "emu-translate", required_argument, 0, OPT_EMU_TRANSLATE },
		{ "restore", required_argument, 0, OPT_RESTORE },
		{ "force", no_argument, 0, OPT_FORCE },
		{ "incoming", required_argument, 0, OPT_INCOMING },
		{ "gdb", required_argument, 0, OPT_GDB },
		{ "gdb-wait", no_argument, 0, OPT_GDB_WAIT },
		{ "record", required_argument, 0, OPT_RECORD },
		{ "replay", required_argument, 0, OPT_REPLAY },
		{ "checkpoint-every", required_argument, 0, OPT_CKPT_EVERY },
		{ "checkpoint-budget", required_argument, 0, OPT_CKPT_BUDGET },
		{ 0, 0, 0, 0 },
	};
	struct vm_config cfg = { .engine = "auto", .mem_size = 512ULL << 20, .ncpus = 1, .serial = "stdio" };
	char err[512] = "", api_path[512] = "";
	const char *api = NULL, *name = NULL, *restore = NULL, *incoming = NULL, *record = NULL, *replay = NULL;
	struct replay *rp = NULL;
	const char *machine_opt = NULL; /* the first option that shapes the machine (not with --restore) */
	bool force = false, engine_given = false;
	uint64_t ckpt_every = 0, ckpt_budget = REPLAY_DEFAULT_BUDGET;
	bool ckpt_opt = false;
	struct cli_guest guest;
	struct machine *m;
	struct vm *vm;
	int c, status;
	uint64_t restore_t0 = 0;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_ENGINE:
			if (!machine_engine_known(optarg)) {
				char msg[96];
				snprintf(msg, sizeof(msg), "--engine must be %s, not '%%s'", machine_engine_names());
				return usage_error(msg, optarg);
			}
			cfg.engine = optarg;
			engine_given = true;
			break;
		case OPT_RESTORE: restore = optarg; break;
		case OPT_INCOMING:
			if (!migrate_uri_valid(optarg))
				return usage_error("--incoming '%s' is not unix:PATH or tcp:HOST:PORT", optarg);
			incoming = optarg;
			break;
		case OPT_FORCE: force = true; break;
		case OPT_KERNEL: cfg.kernel = optarg; break;
		case OPT_INITRD: cfg.initrd = optarg; break;
		case OPT_APPEND: cfg.append = optarg; break;
		case OPT_MEM:
			if (parse_size(optarg, &cfg.mem_size) < 0)
				return usage_error("--mem: '%s' is not a size like 512M or 2G", optarg);
			if (cfg.mem_size < MEM_MIN_SIZE || cfg.mem_size > MEM_MAX_SIZE || (cfg.mem_size & 0xfff))
				return usage_error("--mem %s: must be a multiple of 4K between 16M and 1T", optarg);
			break;
		case OPT_CPUS: {
			char *end;
			long n = strtol(optarg, &end, 10);
			if (*end || end == optarg || n < 1 || n > VM_MAX_CPUS) {
				char msg[64];
				snprintf(msg, sizeof(msg), "--cpus '%%s': must be 1..%d", VM_MAX_CPUS);
				return usage_error(msg, optarg);
			}
			cfg.ncpus = (int)n;
			break;
		}
		case OPT_SERIAL:
			if (strcmp(optarg, "stdio") && (strncmp(optarg, "file:", 5) || !optarg[5]))
				return usage_error("--serial must be stdio or file:PATH, not '%s'", optarg);
			cfg.serial = optarg;
			break;
		case OPT_DISK:
			if (cfg.ndisks == VM_MAX_DISKS)
				return usage_error("--disk %s: too many disks", optarg);
			cfg.disks[cfg.ndisks++] = optarg;
			break;
		case OPT_NET:
			if (cfg.nnets == VM_MAX_NICS)
				return usage_error("--net %s: too many network devices", optarg);
			cfg.nets[cfg.nnets++] = optarg;
			break;
		case OPT_VSOCK:
			if (cfg.vsock)
				return usage_error("--vsock %s: only one vsock device", optarg);
			cfg.vsock = optarg;
			break;
		case OPT_LABEL: cfg.label = optarg; break;
		case OPT_POLICY: cfg.policy = optarg; break;
		case OPT_SYSTEM_MAP: cfg.system_map = optarg; break;
		case OPT_SCHED: cfg.sched = optarg; break;
		case OPT_CPU_MODEL:
			if (strcmp(optarg, "host") && strcmp(optarg, "portable"))
				return usage_error("--cpu-model must be host or portable, not '%s'", optarg);
			cfg.cpu_model = optarg;
			break;
		case OPT_EMU_TRANSLATE:
			if (strcmp(optarg, "on") && strcmp(optarg, "off"))
				return usage_error("--emu-translate must be on or off, not '%s'", optarg);
			cfg.emu_translate = optarg;
			break;
		case OPT_GDB:
			if (!gdb_spec_ok(optarg))
				return usage_error("--gdb '%s': expected tcp:HOST:PORT or unix:PATH", optarg);
			cfg.gdb = optarg;
			break;
		case OPT_GDB_WAIT: cfg.gdb_wait = true; break;
		case OPT_RECORD:
			if (!*optarg)
				return usage_error("--record needs a file%s", "");
			record = optarg;
			break;
		case OPT_REPLAY:
			if (!*optarg)
				return usage_error("--replay needs a file%s", "");
			replay = optarg;
			break;
		case OPT_CKPT_EVERY: {
			char *end;
			errno = 0;
			unsigned long long n = strtoull(optarg, &end, 10);
			if (*end || end == optarg || optarg[0] == '-' || errno || n == 0)
				return usage_error("--checkpoint-every '%s': a number of instructions, at least 1",
				                   optarg);
			ckpt_every = n;
			ckpt_opt = true;
			break;
		}
		case OPT_CKPT_BUDGET:
			if (parse_size(optarg, &ckpt_budget) < 0 || ckpt_budget == 0)
				return usage_error("--checkpoint-budget: '%s' is not a size like 256M or 1G", optarg);
			ckpt_opt = true;
			break;
		case OPT_METRICS: {
			if (!metrics_spec_ok(optarg))
				return usage_error(
				        "--metrics '%s': expected tcp:HOST:PORT (an IPv4 address or localhost)",
				        optarg);
			cfg.metrics = optarg;
			break;
		}
		case OPT_API:
			if (!*optarg)
				return usage_error("--api needs a socket path%s", "");
			api = optarg;
			break;
		case OPT_NAME:
			if (!vm_name_valid(optarg))
				return usage_error(
				        "--name '%s': 1 to 64 of A-Z a-z 0-9 . _ -, not starting with . or -", optarg);
			name = optarg;
			break;
		case 'h': usage_run(); return 0;
		case ':': return usage_error("option '%s' needs an argument", argv[optind - 1]);
		default: return usage_error("unknown option '%s'", argv[optind - 1]);
		}
		if (c == OPT_KERNEL || c == OPT_INITRD || c == OPT_APPEND || c == OPT_MEM || c == OPT_CPUS ||
		    c == OPT_DISK || c == OPT_NET || c == OPT_VSOCK || c == OPT_LABEL || c == OPT_POLICY ||
		    c == OPT_SYSTEM_MAP || c == OPT_CPU_MODEL)
			machine_opt = machine_opt ? machine_opt : argv[optind - 1];
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (cfg.gdb_wait && !cfg.gdb)
		return usage_error("%s: --gdb-wait needs --gdb", "--gdb-wait");
	if (restore && machine_opt)
		return usage_error("%s: --restore takes the machine from the snapshot", machine_opt);
	if (cfg.emu_translate && (restore || incoming))
		return usage_error("%s: not with --restore or --incoming (emu translates by default)",
		                   "--emu-translate");
	if (force && !restore && !incoming)
		return usage_error("%s: only with --restore or --incoming", "--force");
	if (incoming && machine_opt)
		return usage_error("%s: --incoming takes the machine from its sender", machine_opt);
	if (incoming && restore)
		return usage_error("%s: --restore or --incoming, not both", "--incoming");
	/* An exclusive cache is filled by Geiger's eviction records, and Geiger
	 * runs only on a VM with a control socket. */
	for (int i = 0; i < cfg.ndisks && !api && !name; i++)
		if (strstr(cfg.disks[i], ",cache=exclusive:"))
			return usage_error("--disk %s: cache=exclusive needs --name or --api (Geiger, which fills it, "
			                   "runs on the control socket)",
			                   cfg.disks[i]);
	if (record || replay) {
		const char *what = record ? "--record" : "--replay";
		if (record && replay)
			return usage_error("%s: --record or --replay, not both", "--replay");
		if (restore || incoming)
			return usage_error("%s: not with --restore or --incoming", what);
		if (replay && machine_opt)
			return usage_error("%s: --replay takes the machine from the log", machine_opt);
		if (cfg.gdb && record)
			return usage_error("%s: not with --gdb (gdb attaches to a --replay)", what);
		if (replay_machine_check(&cfg, engine_given ? cfg.engine : NULL, err, sizeof(err)) < 0)
			return usage_error("%s", err);
		cfg.engine = "emu";
		cfg.record_replay = true;
	}
	if (ckpt_opt && !replay)
		return usage_error("%s: only with --replay", "--checkpoint-every/--checkpoint-budget");
	if (replay && !(rp = replay_load(replay, &cfg, err, sizeof(err)))) {
		fprintf(stderr, "symbiont: %s\n", err);
		return 1;
	}
	if (rp && (ckpt_every || cfg.gdb))
		replay_set_checkpoints(rp, ckpt_every ? ckpt_every : REPLAY_DEFAULT_EVERY, ckpt_budget);
	memset(&guest, 0, sizeof(guest));
	if (incoming || restore) {
		/* Both bring back a saved machine; an incoming one's disks are the
		 * sender's, checked strictly (force is for the CPU model only). */
		char note[512] = "";
		struct machine_restore_opts ro = { .dir = restore,
			                           .engine = engine_given ? cfg.engine : NULL,
			                           .serial = cfg.serial,
			                           .force = force && restore,
			                           .force_cpu = force,
			                           .note = note,
			                           .notelen = sizeof(note) };
		bool bad_input;
		if (restore)
			restore_t0 = host_clock_ns();
		m = incoming ? machine_incoming(incoming, &ro, &bad_input, err, sizeof(err))
		             : machine_restore(&ro, &bad_input, err, sizeof(err));
		if (!m) {
			fprintf(stderr, "symbiont: %s\n",
			        err[0]     ? err
			        : incoming ? "cannot receive the VM"
			                   : "cannot restore the VM");
			return bad_input ? EXIT_USAGE : 1;
		}
		vm = machine_vm(m);
		vm->cfg.metrics = cfg.metrics;
		vm->cfg.gdb = cfg.gdb;
		vm->cfg.gdb_wait = cfg.gdb_wait;
		if (note[0])
			fprintf(stderr, "symbiont: note: %s\n", note);
	} else {
		if (machine_config_check(&cfg, err, sizeof(err)) < 0 ||
		    machine_host_check(&cfg, err, sizeof(err)) < 0) {
			replay_free(rp);
			return usage_error("%s", err);
		}
		if (cli_default_guest(&cfg, &guest, err, sizeof(err)) < 0 ||
		    !(m = machine_build(&cfg, err, sizeof(err)))) {
			fprintf(stderr, "symbiont: %s\n", err[0] ? err : "cannot create the VM");
			cli_guest_free(&guest);
			replay_free(rp);
			return 1;
		}
		vm = machine_vm(m);
		if (rp)
			replay_attach(vm, rp);
		else if (record && replay_record_start(vm, record, err, sizeof(err)) < 0)
			goto fail;
	}
	if (api || name) {
		if (api)
			snprintf(api_path, sizeof(api_path), "%s", api);
		else if (vm_socket_path(name, true, api_path, sizeof(api_path), err, sizeof(err)) < 0)
			goto fail;
		if (vm_control_open(vm, api_path, name, err, sizeof(err)) < 0) {
			if (name && strstr(err, "in use"))
				snprintf(err, sizeof(err), "a VM named '%s' is already running", name);
			goto fail;
		}
		machine_control_register(m);
	}
	if (vsched_admit(vm, err, sizeof(err)) < 0)
		goto fail;
	services_start(vm);
	if (restore_t0)
		vm->restore_ns = host_clock_ns() - restore_t0;
	status = vm_run(vm); /* a recording or replay reports from there (replay_finish) */
	machine_control_stop(m);
	vsched_stop(vm);
	/* The socket first (SHUTDOWN is out by now): no command may reach a
	 * service that is being stopped. */
	vm_control_close(vm);
	services_stop(vm);
	rp = vm->replay;
	machine_destroy(m);
	replay_free(rp);
	cli_guest_free(&guest);
	return status;
fail:
	fprintf(stderr, "symbiont: %s\n", err);
	machine_control_stop(m);
	vm_control_close(vm); /* takes its socket away */
	rp = vm->replay;
	machine_destroy(m);
	replay_free(rp);
	cli_guest_free(&guest);
	return 1;
}
