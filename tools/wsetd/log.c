// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static enum log_level current_level = LOG_LEVEL_INFO;

static const struct {
	const char *name;
	enum log_level level;
} level_names[] = {
	{ "error", LOG_LEVEL_ERROR },	  { "warning", LOG_LEVEL_WARNING },
	{ "notice", LOG_LEVEL_NOTICE }, { "info", LOG_LEVEL_INFO },
	{ "debug", LOG_LEVEL_DEBUG },
};

void log_set_level(enum log_level level)
{
	current_level = level;
}

int log_level_parse(const char *name, enum log_level *level)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i].name) == 0) {
			*level = level_names[i].level;
			return 0;
		}
	}
	return -1;
}

const char *log_level_name(enum log_level level)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (level_names[i].level == level)
			return level_names[i].name;
	return "unknown";
}

/* systemd sets JOURNAL_STREAM when stderr is connected to the journal. */
static bool stderr_is_journal(void)
{
	static int answer = -1;

	if (answer < 0)
		answer = getenv("JOURNAL_STREAM") != NULL;
	return answer;
}

void log_message(enum log_level level, const char *format, ...)
{
	char line[1024];
	va_list arguments;

	if (level > current_level)
		return;
	va_start(arguments, format);
	vsnprintf(line, sizeof(line), format, arguments);
	va_end(arguments);
	/* One write per line so lines of concurrent writers do not mix. */
	if (stderr_is_journal())
		fprintf(stderr, "<%d>%s\n", (int)level, line);
	else
		fprintf(stderr, "wsetd: %s: %s\n", log_level_name(level), line);
}
