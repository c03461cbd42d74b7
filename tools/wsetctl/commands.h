/* SPDX-License-Identifier: MIT */
/* The wsetctl commands; each takes its own arguments and returns an exit
 * code (exit_codes.h). */
#ifndef WSETCTL_COMMANDS_H
#define WSETCTL_COMMANDS_H

int command_status(int argc, char **argv);
int command_top(int argc, char **argv);
int command_metrics(int argc, char **argv);
int command_history(int argc, char **argv);
int command_plot(int argc, char **argv);
int command_set(int argc, char **argv);
int command_evict(int argc, char **argv);
int command_restore(int argc, char **argv);

/* Parse a VMM id ("all" gives 0); -1 after printing why. */
long parse_vmm(const char *text);

#endif
