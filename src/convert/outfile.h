// outfile.h - writing a file all or nothing: the bytes go to a new temporary
// file in the destination's folder, which replaces the destination (rename)
// only after it is complete and flushed to disk. Until then the destination
// keeps whatever it held; an aborted file is removed. (A process killed
// outright leaves its "<dest>.<pid>-<n>.tmp" file behind, never a partial
// destination.) A symbolic link at the destination is replaced by the new
// file, not written through.
#ifndef FLM_CONVERT_OUTFILE_H
#define FLM_CONVERT_OUTFILE_H

#include "core/status.h"

#include <stddef.h>
#include <stdint.h>

struct flm_outfile;

// Creates the temporary file (mode 0666 less the umask). FLM_ERR_IO naming
// the folder and the reason when it cannot be created.
flm_status flm_outfile_open(struct flm_outfile **out, const char *dest, struct flm_err *err);
// Appends n bytes (data NULL: zeros).
flm_status flm_outfile_write(struct flm_outfile *f, const void *data, size_t n, struct flm_err *err);
uint64_t   flm_outfile_size(const struct flm_outfile *f);
// fsync, close, rename over dest, fsync the folder; frees f in every case
// (on failure the temporary file is removed).
flm_status flm_outfile_commit(struct flm_outfile *f, struct flm_err *err);
// Closes and removes the temporary file, frees f. NULL is a no-op.
void flm_outfile_abort(struct flm_outfile *f);

#endif
