/* atomic_file.h -- creates a file atomically: written under a temporary name, then renamed.
 * Context: library
 */
#ifndef GP_ATOMIC_FILE_H
#define GP_ATOMIC_FILE_H

/* Writes the whole content into fd (not closed by it). Returns 0 or -errno; an error abandons
 * the file. */
typedef int (*atomic_file_fill_fn)(void *arg, int fd);

/* Creates "<path>.tmp.<pid>" in path's directory, lets fill write it, fsyncs it and renames it
 * onto path, so readers see either the old file or the complete new one. On any error the
 * temporary file is unlinked, path is untouched, a line is logged and -errno is returned. */
int atomic_file_write(const char *path, atomic_file_fill_fn fill, void *arg);

#endif
