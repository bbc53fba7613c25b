/* record.h -- goprof record: runs a command under the profiler and summarizes the profile.
 * Context: goprof
 */
#ifndef GP_RECORD_H
#define GP_RECORD_H

/* argv: the arguments after "record". Returns goprof's exit status: the command's own status,
 * 128 + N when the command was killed by signal N, 125 when goprof itself failed before the
 * command ran (2 for a usage error), 126/127 when the command could not be executed/found. */
int record_main(int argc, char **argv);

#endif
