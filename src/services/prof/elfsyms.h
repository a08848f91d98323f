/* The function symbols of a user program's ELF file (its .symtab, else its
 * .dynsym), for naming prof's user samples. */
#ifndef PROF_ELFSYMS_H
#define PROF_ELFSYMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct elfsyms;

/* Parses an ELF64 x86-64 file's bytes.  NULL with one line in err if it is
 * not one, or has no function symbols. */
struct elfsyms *elfsyms_parse(const uint8_t *elf, size_t len, char *err, size_t errlen);
/* Reads and parses a file of at most 256 MiB. */
struct elfsyms *elfsyms_load(const char *path, char *err, size_t errlen);
void elfsyms_free(struct elfsyms *s);
/* The function containing addr (a running address; a position-independent
 * program's addresses are offsets from load_base, which is 0 for a program
 * linked at fixed addresses), or NULL. */
const char *elfsyms_at(const struct elfsyms *s, uint64_t addr);
/* Linked at fixed addresses (ET_EXEC): running address = symbol value. */
bool elfsyms_fixed(const struct elfsyms *s);

#endif
