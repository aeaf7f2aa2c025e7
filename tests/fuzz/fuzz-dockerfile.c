/* fuzz-dockerfile: libFuzzer target for cachebuild's Dockerfile scanner
 * (dockerfile_parse(), both ways of reading --mount values) and Go's
 * path.Clean as df_path_clean() does it.  A Dockerfile comes from the
 * repository being built: a pull request chooses it.
 *
 * Checks on a scanned Dockerfile: at least one stage, stage names unique
 * and lowercase, every cache mount in an existing stage with an id and a
 * target and a line within the text, the escape character one of the two
 * allowed; a refusal leaves the dockerfile empty and names the file.
 * df_path_clean() gives a clean path: cleaning it again changes nothing,
 * it has no empty, "." or (when rooted) ".." component.
 *
 *   make fuzz && build/fuzz/fuzz-dockerfile tests/fuzz/corpus-dockerfile */
#include "../../builder/dockerfile.h"
#include "fuzz.h"

#include <ctype.h>
#include <stdint.h>

static void check_clean(const char *p)
{
	char *c = df_path_clean(p), *again;

	FUZZ_CHECK(c && *c);
	FUZZ_CHECK(strlen(c) <= strlen(p) + 1);
	again = df_path_clean(c);
	FUZZ_CHECK(again && !strcmp(again, c));
	if (strcmp(c, "/") && strcmp(c, ".")) {
		FUZZ_CHECK(!strstr(c, "//") && !strstr(c, "/./") && c[strlen(c) - 1] != '/');
		FUZZ_CHECK(strncmp(c, "./", 2) && (strlen(c) < 2 || strcmp(c + strlen(c) - 2, "/.")));
		if (c[0] == '/')
			FUZZ_CHECK(strncmp(c, "/../", 4) && strcmp(c, "/.."));
	}
	free(again);
	free(c);
}

static void check(const struct dockerfile *df, size_t lines)
{
	FUZZ_CHECK(df->nstages >= 1);
	FUZZ_CHECK(df->escape == '\\' || df->escape == '`');
	for (size_t i = 0; i < df->nstages; i++) {
		const struct df_stage *st = &df->stages[i];

		FUZZ_CHECK(st->base && st->line >= 1 && st->line <= lines);
		if (!st->name)
			continue;
		for (const char *c = st->name; *c; c++)
			FUZZ_CHECK(!isupper((unsigned char)*c));
		FUZZ_CHECK(dockerfile_stage_index(df, st->name) == (long)i);
	}
	for (size_t i = 0; i < df->nmounts; i++) {
		const struct df_mount *m = &df->mounts[i];

		FUZZ_CHECK(m->stage < df->nstages);
		FUZZ_CHECK(m->id && *m->id && m->target && *m->target);
		FUZZ_CHECK(m->line >= df->stages[m->stage].line && m->line <= lines);
		FUZZ_CHECK(m->sharing <= DF_SHARING_LOCKED);
		check_clean(m->target);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const args[] = { "GO_VERSION=1.22", "CACHE_ID=ci" };
	const char *text = (const char *)data, *nl;
	size_t lines = 1;
	char *first;

	for (size_t i = 0; i < size; i++)
		lines += text[i] == '\n';
	for (int vars = 0; vars < 2; vars++) {
		struct dockerfile df;
		struct cc_err err;

		if (dockerfile_parse(&df, "Dockerfile", text, size, args, 2,
				     vars ? DF_MOUNT_VARS_EXPAND : DF_MOUNT_VARS_LITERAL, &err)) {
			FUZZ_CHECK(!df.nstages && !df.nmounts && !df.path && !df.syntax);
			FUZZ_CHECK(!strncmp(err.msg, "Dockerfile:", 11));
			if (vars)
				fuzz_say("result: refused: %s", err.msg);
			continue;
		}
		check(&df, lines);
		if (vars)
			fuzz_say("result: accepted %zu stages, %zu cache mounts", df.nstages,
				 df.nmounts);
		dockerfile_release(&df);
	}
	/* The first line as a mount target. */
	nl = memchr(text, '\n', size);
	first = strndup(text, nl ? (size_t)(nl - text) : size);
	if (!first)
		abort();
	check_clean(first);
	free(first);
	return 0;
}
