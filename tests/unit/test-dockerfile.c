/* test-dockerfile: the Dockerfile scanner of cachebuild. */
#include "harness.h"
#include "../../builder/dockerfile.h"
#include "../../common/buf.h"

#include <stdlib.h>

static struct dockerfile df;
static struct cc_err err;

static enum df_mount_vars vars = DF_MOUNT_VARS_EXPAND;

static enum cc_code scan(const char *text, const char *const *args, size_t nargs)
{
	dockerfile_release(&df);
	cc_err_clear(&err);
	return dockerfile_parse(&df, "Dockerfile", text, strlen(text), args, nargs, vars, &err);
}

static void test_basic_cache_mount(void)
{
	CHECK_EQ(scan("FROM alpine\nRUN --mount=type=cache,target=/root/.cache/go-build/ go build\n",
		      NULL, 0), CC_OK);
	CHECK_EQ(df.nmounts, 1);
	CHECK_STR(df.mounts[0].id, "/root/.cache/go-build");
	CHECK_STR(df.mounts[0].target, "/root/.cache/go-build/");
	CHECK_EQ(df.mounts[0].mode, 0755);
	CHECK_EQ(df.mounts[0].uid, 0);
	CHECK_EQ(df.mounts[0].sharing, DF_SHARING_SHARED);
	CHECK_EQ(df.mounts[0].line, 2);
	CHECK(!df.mounts[0].readonly);
	CHECK(!df.mounts[0].uid_set && !df.mounts[0].gid_set && !df.mounts[0].mode_set);
	CHECK(!df.mounts[0].from);
}

static void test_all_options(void)
{
	CHECK_EQ(scan("FROM a AS b\n"
		      "RUN --mount=type=cache,id=npm,dst=/c,sharing=locked,mode=0700,uid=1000,"
		      "gid=100,ro,from=img,src=/s true\n"
		      "RUN --mount=Type=cache,ID=x,destination=/d,readonly=false,SHARING=private,"
		      "rw=false,source=/q true\n", NULL, 0), CC_OK);
	CHECK_EQ(df.nmounts, 2);
	CHECK_STR(df.mounts[0].id, "npm");
	CHECK_STR(df.mounts[0].target, "/c");
	CHECK_EQ(df.mounts[0].sharing, DF_SHARING_LOCKED);
	CHECK_EQ(df.mounts[0].mode, 0700);
	CHECK_EQ(df.mounts[0].uid, 1000);
	CHECK_EQ(df.mounts[0].gid, 100);
	CHECK(df.mounts[0].uid_set && df.mounts[0].gid_set && df.mounts[0].mode_set);
	CHECK(df.mounts[0].readonly);
	CHECK_STR(df.mounts[0].from, "img");
	CHECK_STR(df.mounts[0].source, "/s");
	CHECK_STR(df.mounts[1].id, "x");
	CHECK_STR(df.mounts[1].target, "/d");
	CHECK_EQ(df.mounts[1].sharing, DF_SHARING_PRIVATE);
	CHECK(df.mounts[1].readonly);
	CHECK_STR(df.mounts[1].source, "/q");
	CHECK_STR(df_sharing_name(df.mounts[1].sharing), "private");
}

static void test_several_mounts_and_other_types(void)
{
	CHECK_EQ(scan("FROM a\n"
		      "RUN --network=none --mount=type=bind,target=/src,rw "
		      "--mount=type=cache,target=/a --mount=type=secret,id=s,required "
		      "--mount=type=tmpfs,target=/t,size=10m --mount=type=ssh "
		      "--mount=type=cache,target=/b make\n", NULL, 0), CC_OK);
	CHECK_EQ(df.nmounts, 2);
	CHECK_STR(df.mounts[0].id, "/a");
	CHECK_STR(df.mounts[1].id, "/b");
	/* A mount after the command is not a flag. */
	CHECK_EQ(scan("FROM a\nRUN echo --mount=type=cache,target=/x\n", NULL, 0), CC_OK);
	CHECK_EQ(df.nmounts, 0);
	/* Exec form. */
	CHECK_EQ(scan("FROM a\nRUN --mount=type=cache,target=/x [\"make\"]\n", NULL, 0), CC_OK);
	CHECK_EQ(df.nmounts, 1);
}

static void test_stages(void)
{
	CHECK_EQ(scan("ARG BASE=alpine\nFROM $BASE AS Build\nRUN --mount=type=cache,target=/a x\n"
		      "FROM --platform=linux/amd64 build AS test\n"
		      "RUN --mount=type=cache,target=/b x\nFROM scratch\n"
		      "RUN --mount=type=cache,target=/c x\n", NULL, 0), CC_OK);
	CHECK_EQ(df.nstages, 3);
	CHECK_STR(df.stages[0].name, "build");
	CHECK_STR(df.stages[0].base, "alpine");
	CHECK_STR(df.stages[1].base, "build");
	CHECK(!df.stages[2].name);
	CHECK_EQ(df.mounts[0].stage, 0);
	CHECK_EQ(df.mounts[1].stage, 1);
	CHECK_EQ(df.mounts[2].stage, 2);
	CHECK_EQ(dockerfile_stage_index(&df, "BUILD"), 0);
	CHECK_EQ(dockerfile_stage_index(&df, "2"), 2);
	CHECK_EQ(dockerfile_stage_index(&df, "nope"), -1);
	CHECK_EQ(dockerfile_stage_index(&df, "3"), -1);
}

static void test_continuations_and_comments(void)
{
	CHECK_EQ(scan("FROM a\n"
		      "RUN --mount=type=cache,target=/a \\\n"
		      "# a comment inside\n"
		      "\n"
		      "    --mount=type=cache,target=/b \\   \n"
		      "    make\n"
		      "  # indented comment\n"
		      "RUN --mount=type=cache,target=/c true\n", NULL, 0), CC_OK);
	CHECK_EQ(df.nmounts, 3);
	CHECK_EQ(df.mounts[0].line, 2);
	CHECK_EQ(df.mounts[1].line, 2);
	CHECK_STR(df.mounts[1].id, "/b");
	CHECK_EQ(df.mounts[2].line, 8);
	/* CRLF line ends. */
	CHECK_EQ(scan("FROM a\r\nRUN --mount=type=cache,target=/a \\\r\n make\r\n", NULL, 0), CC_OK);
	CHECK_EQ(df.nmounts, 1);
	CHECK_STR(df.mounts[0].target, "/a");
}

static void test_escape_directive(void)
{
	CHECK_EQ(scan("# escape=`\nFROM a\nRUN --mount=type=cache,target=C:\\cache `\n make\n",
		      NULL, 0), CC_OK);
	CHECK_EQ(df.escape, '`');
	CHECK_EQ(df.nmounts, 1);
	CHECK_STR(df.mounts[0].target, "C:\\cache");
	/* After an instruction it is only a comment. */
	CHECK_EQ(scan("FROM a\n# escape=`\nRUN --mount=type=cache,target=/x \\\n true\n",
		      NULL, 0), CC_OK);
	CHECK_EQ(df.escape, '\\');
	CHECK_EQ(df.nmounts, 1);
	CHECK_EQ(scan("# escape=x\nFROM a\n", NULL, 0), CC_EUSAGE);
	CHECK(strstr(err.msg, "Dockerfile:1: escape directive 'x'") != NULL);
	CHECK_EQ(scan("# syntax=docker/dockerfile:1\n# escape=`\nFROM a\n", NULL, 0), CC_OK);
	CHECK_STR(df.syntax, "docker/dockerfile:1");
	CHECK_EQ(df.escape, '`');
}

static void test_substitution(void)
{
	const char *args[] = { "UID=4242", "CACHE=/over", "EMPTY=" };

	CHECK_EQ(scan("ARG GLOBAL=g\nFROM a\nARG GLOBAL\nARG UID=1\nARG CACHE=/c\nARG EMPTY\n"
		      "ENV NS=pkg HOMEDIR=\"/home/u\"\n"
		      "RUN --mount=type=cache,id=$NS-${GLOBAL},target=${HOMEDIR}/.cache,uid=$UID "
		      "--mount=type=cache,target=${UNSET:-/dflt},id=${EMPTY:-e}${EMPTY-f}${NS:+p}"
		      " --mount=type=cache,target=$CACHE,id=\\$lit true\n", args, 3), CC_OK);
	CHECK_EQ(df.nmounts, 3);
	CHECK_STR(df.mounts[0].id, "pkg-g");
	CHECK_STR(df.mounts[0].target, "/home/u/.cache");
	CHECK_EQ(df.mounts[0].uid, 4242);
	CHECK_STR(df.mounts[1].target, "/dflt");
	CHECK_STR(df.mounts[1].id, "ep");
	CHECK_STR(df.mounts[2].target, "/over");
	CHECK_STR(df.mounts[2].id, "$lit");
	/* Global ARGs are not visible in a stage without a bare ARG. */
	CHECK_EQ(scan("ARG G=g\nFROM a\nRUN --mount=type=cache,target=/x,id=${G:-none} t\n",
		      NULL, 0), CC_OK);
	CHECK_STR(df.mounts[0].id, "none");
	/* ENV is inherited from the stage a stage builds on; ARG is not. */
	CHECK_EQ(scan("FROM a AS one\nENV E=env\nARG A=arg\nFROM one\n"
		      "RUN --mount=type=cache,target=/$E,id=x$A t\n", NULL, 0), CC_OK);
	CHECK_STR(df.mounts[0].target, "/env");
	CHECK_STR(df.mounts[0].id, "x");
	/* Old ENV form. */
	CHECK_EQ(scan("FROM a\nENV D /var/d\nRUN --mount=type=cache,target=$D t\n", NULL, 0),
		 CC_OK);
	CHECK_STR(df.mounts[0].target, "/var/d");
	CHECK_EQ(scan("FROM a\nRUN --mount=type=cache,target=${X:?bad} t\n", NULL, 0), CC_EUSAGE);
	CHECK(strstr(err.msg, "Dockerfile:2: unsupported substitution") != NULL);
	CHECK_EQ(scan("FROM a\nRUN --mount=type=cache,target=${X t\n", NULL, 0), CC_EUSAGE);
}

/* Docker 20.10: mount values are used as written. */
static void test_literal_mount_values(void)
{
	vars = DF_MOUNT_VARS_LITERAL;
	CHECK_EQ(scan("FROM a\nARG X=/x\nRUN --mount=type=cache,target=$X,id=${X:-y} t\n", NULL, 0),
		 CC_OK);
	CHECK_STR(df.mounts[0].target, "$X");
	CHECK_STR(df.mounts[0].id, "${X:-y}");
	CHECK_EQ(scan("FROM a\nRUN --mount=type=cache,target=/t,uid=$U t\n", NULL, 0), CC_EUSAGE);
	CHECK(strstr(err.msg, "uid=$U is not a whole number") != NULL);
	CHECK_EQ(scan("FROM a\nRUN --mount=type=cache,\"id=a,b\",target=/x t\n", NULL, 0), CC_OK);
	CHECK_STR(df.mounts[0].id, "a,b");
	vars = DF_MOUNT_VARS_EXPAND;
}

static void test_quoted_csv(void)
{
	CHECK_EQ(scan("FROM a\nRUN --mount=\"type=cache,target=/q\" t\n", NULL, 0), CC_OK);
	CHECK_EQ(df.nmounts, 1);
	CHECK_STR(df.mounts[0].target, "/q");
	/* Expansion (and quote removal) comes before the CSV split. */
	CHECK_EQ(scan("FROM a\nRUN --mount=type=cache,\"id=a,b\",target=/x t\n", NULL, 0),
		 CC_EUSAGE);
	CHECK(strstr(err.msg, "mount option 'b' must be a key=value pair") != NULL);
	CHECK_EQ(scan("FROM a\nARG V=a,b\nRUN --mount=type=cache,id=$V,target=/x t\n", NULL, 0),
		 CC_EUSAGE);
	CHECK_EQ(scan("FROM a\nARG V=/d\nRUN --mount=type=cache,id=\"\"${V}\"\",target=/x t\n",
		      NULL, 0), CC_OK);
	CHECK_STR(df.mounts[0].id, "/d");
	CHECK_EQ(scan("FROM a\nRUN --mount=type=cache,id=\\$V,target=/x t\n", NULL, 0), CC_OK);
	CHECK_STR(df.mounts[0].id, "$V");
}

static void test_heredoc(void)
{
	CHECK_EQ(scan("FROM a\nRUN --mount=type=cache,target=/a <<EOF\nFROBNICATE x\n"
		      "--mount=type=cache,target=/no\nEOF\n"
		      "COPY <<-\"END\" /f\n\tnot an instruction\n\tEND\n"
		      "RUN --mount=type=cache,target=/b t\n", NULL, 0), CC_OK);
	CHECK_EQ(df.nmounts, 2);
	CHECK_STR(df.mounts[1].id, "/b");
	CHECK_EQ(df.mounts[1].line, 9);
	CHECK_EQ(scan("FROM a\nRUN cat <<EOF\nx\n", NULL, 0), CC_EUSAGE);
	CHECK(strstr(err.msg, "heredoc '<<EOF' is not terminated") != NULL);
}

static void test_errors(void)
{
	CHECK_EQ(scan("FROM a\nRUN --mount=type=cache,target=/a,foo=1 true\n", NULL, 0), CC_EUSAGE);
	CHECK_STR(err.msg, "Dockerfile:2: unknown cache mount option 'foo' in "
		  "'--mount=type=cache,target=/a,foo=1'");
	CHECK_EQ(scan("FROM a\n\nRUN \\\n --mount=type=cache,sharing=sometimes,target=/a t\n",
		      NULL, 0), CC_EUSAGE);
	CHECK(strstr(err.msg, "Dockerfile:3: sharing=sometimes") != NULL);
	CHECK_EQ(scan("FROM a\nRUN --mount=type=cache,mode=0999,target=/a t\n", NULL, 0), CC_EUSAGE);
	CHECK(strstr(err.msg, "mode=0999 is not an octal number") != NULL);
	CHECK_EQ(scan("FROM a\nRUN --mount=type=cache,uid=-1,target=/a t\n", NULL, 0), CC_EUSAGE);
	CHECK_EQ(scan("FROM a\nRUN --mount=type=cache,gid=x,target=/a t\n", NULL, 0), CC_EUSAGE);
	CHECK_EQ(scan("FROM a\nRUN --mount=type=cache,id=x t\n", NULL, 0), CC_EUSAGE);
	CHECK(strstr(err.msg, "cache mount without a target") != NULL);
	CHECK_EQ(scan("FROM a\nRUN --mount=type=cache,target=/a,required t\n", NULL, 0), CC_EUSAGE);
	CHECK(strstr(err.msg, "'required' is only for secret and ssh") != NULL);
	CHECK_EQ(scan("FROM a\nRUN --mount=type=cache,target=/a,bogus t\n", NULL, 0), CC_EUSAGE);
	CHECK(strstr(err.msg, "must be a key=value pair") != NULL);
	CHECK_EQ(scan("FROM a\nRUN --mount=type=volume,target=/a t\n", NULL, 0), CC_EUSAGE);
	CHECK(strstr(err.msg, "unsupported mount type 'volume'") != NULL);
	CHECK_EQ(scan("FROM a\nRUN --mount type=cache,target=/a t\n", NULL, 0), CC_EUSAGE);
	CHECK(strstr(err.msg, "Dockerfile:2: '--mount' needs its value after '='") != NULL);
	CHECK_EQ(scan("FROM a\nFROBNICATE x\n", NULL, 0), CC_EUSAGE);
	CHECK_STR(err.msg, "Dockerfile:2: unknown instruction 'FROBNICATE'");
	CHECK_EQ(scan("RUN x\nFROM a\n", NULL, 0), CC_EUSAGE);
	CHECK(strstr(err.msg, "Dockerfile:1: run before the first FROM") != NULL);
	CHECK_EQ(scan("# just a comment\n", NULL, 0), CC_EUSAGE);
	CHECK(strstr(err.msg, "no FROM instruction") != NULL);
	CHECK_EQ(scan("FROM a AS x\nFROM b AS X\n", NULL, 0), CC_EUSAGE);
	CHECK(strstr(err.msg, "Dockerfile:2: duplicate stage name 'x'") != NULL);
	CHECK_EQ(scan("FROM\n", NULL, 0), CC_EUSAGE);
	CHECK_EQ(scan("FROM a b c\n", NULL, 0), CC_EUSAGE);
	CHECK_EQ(scan("# escape=`\n# escape=\\\nFROM a\n", NULL, 0), CC_EUSAGE);
	CHECK_EQ(scan("FROM a\nRUN --mount=type=cache,\"target=/a t\n", NULL, 0), CC_EUSAGE);
}

static void test_path_clean(void)
{
	const char *cases[][2] = {
		{ "/a/b/", "/a/b" }, { "a//b/./c", "a/b/c" }, { "/../a", "/a" },
		{ "a/../..", ".." }, { "", "." }, { "/", "/" }, { "./", "." },
		{ "a/b/../../c", "c" }, { "../../x", "../../x" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char *c = df_path_clean(cases[i][0]);

		CHECK_STR(c, cases[i][1]);
		free(c);
	}
}

/* Found by fuzz-dockerfile (and a 2.4 MB Dockerfile): nested
 * ${A:-${A:-...}} recursed without a bound until the stack overflowed;
 * and ENV B=$B$B doubles a value at each line. */
static void test_expansion_bounds(void)
{
	struct buf t = BUF_INIT;
	enum cc_code rc;

	buf_addstr(&t, "FROM a\nENV X=", NULL);
	for (int i = 0; i < 64; i++)
		buf_addstr(&t, "${A:-", NULL);
	buf_addstr(&t, "deep", NULL);
	for (int i = 0; i < 64; i++)
		buf_addstr(&t, "}", NULL);
	buf_addstr(&t, "\nRUN --mount=type=cache,target=/$X true\n", NULL);
	CHECK_EQ(scan(t.data, NULL, 0), CC_OK);
	CHECK_STR(df.mounts[0].target, "/deep");

	buf_reset(&t);
	buf_addstr(&t, "FROM a\nENV X=", NULL);
	for (int i = 0; i < 100000; i++)
		buf_addstr(&t, "${A:-", NULL);
	for (int i = 0; i < 100000; i++)
		buf_addstr(&t, "}", NULL);
	CHECK_EQ(scan(t.data, NULL, 0), CC_EUSAGE);
	CHECK(strstr(err.msg, "Dockerfile:2: substitutions nested deeper than 64 levels"));

	buf_reset(&t);
	buf_addstr(&t, "FROM a\nENV B=0123456789abcdef\n", NULL);
	for (int i = 0; i < 40; i++)
		buf_addstr(&t, "ENV B=$B$B\n", NULL);
	rc = scan(t.data, NULL, 0);
	CHECK_EQ(rc, CC_EUSAGE);
	CHECK(strstr(err.msg, "variable substitutions expand to more than 4 MiB"));
	buf_release(&t);
}

int main(void)
{
	RUN(test_basic_cache_mount);
	RUN(test_all_options);
	RUN(test_several_mounts_and_other_types);
	RUN(test_stages);
	RUN(test_continuations_and_comments);
	RUN(test_escape_directive);
	RUN(test_substitution);
	RUN(test_quoted_csv);
	RUN(test_literal_mount_values);
	RUN(test_heredoc);
	RUN(test_errors);
	RUN(test_path_clean);
	RUN(test_expansion_bounds);
	dockerfile_release(&df);
	return test_summary();
}
