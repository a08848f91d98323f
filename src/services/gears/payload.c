/* The run payload (guest/payloads/run.c) inside the symbiont binary, so
 * that exec, push and pull need no file beside it.  The Makefile builds the
 * payload first and names it in GEARS_RUN_PAYLOAD; a build without it (the
 * fuzz build) has an empty one, which exec.c refuses with a message. */
#include <stddef.h>
#include <stdint.h>

#ifdef GEARS_RUN_PAYLOAD
__asm__(".section .rodata\n"
        ".balign 16\n"
        ".globl gears_run_payload\n"
        "gears_run_payload:\n"
        ".incbin \"" GEARS_RUN_PAYLOAD "\"\n"
        "gears_run_payload_end:\n"
        ".balign 8\n"
        ".globl gears_run_payload_len\n"
        "gears_run_payload_len:\n"
        ".quad gears_run_payload_end - gears_run_payload\n"
        ".previous\n");
#else
const uint8_t gears_run_payload[1];
const size_t gears_run_payload_len = 0;
#endif
