/* collector_spawn.h -- starting the collector process from the program's constructor.
 * Context: program
 */
#ifndef GP_COLLECTOR_SPAWN_H
#define GP_COLLECTOR_SPAWN_H

struct collector_config;

/* Forks the collector (collector_main in src/collector/collector.h), which takes cfg as the
 * fork copied it (with the descriptors it names). The program must be single-threaded (the
 * constructor is). Returns 0 or -errno. */
int collector_spawn(const struct collector_config *cfg);

#endif
