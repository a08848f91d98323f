/* A CPU-bound guest program with symbols, for tests/e2e/prof_user.sh:
 * nearly all its time is in prof_spin_inner, called from main. */
#include <stdio.h>

static volatile unsigned long counter;

__attribute__((noinline)) void prof_spin_inner(void)
{
	for (int i = 0; i < 1000000; i++)
		counter++;
}

int main(void)
{
	puts("PROF-SPIN-RUNNING");
	fflush(stdout);
	for (;;)
		prof_spin_inner();
}
