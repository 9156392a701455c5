/*
 * A reader for one trace line: a flat JSON object whose values are strings, integers or
 * lists of strings (anything else a trace line never holds is reported as such). Strings
 * are unescaped in place, so the parsed object points into the line it came from.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mmrec.h"

struct cursor {
  char *p;
  char *why;
  size_t why_len;
};

static int fail(struct cursor *c, const char *what) {
  snprintf(c->why, c->why_len, "not valid JSON: %s", what);
  return -1;
}

static void skip_space(struct cursor *c) {
  while (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n') c->p++;
}

/* The 4 hex digits at p as a number, or -1. */
static long hex4(const char *p) {
  long v = 0;
  for (int i = 0; i < 4; i++) {
    char h = p[i];
    int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/*
 * A \uXXXX escape (src just past the 'u'; a high surrogate takes the \uXXXX of its low half
 * too) written as UTF-8 at *dst. Never longer than the escape, so the string can be decoded
 * in place. Returns the source consumed, or 0 for a bad escape (`why` says which).
 */
static int read_unicode(const char *src, char **dst, const char **why) {
  long cp = hex4(src);
  int used = 4;
  if (cp < 0) return *why = "a \\u escape needs 4 hex digits", 0;
  if (cp >= 0xdc00 && cp <= 0xdfff) return *why = "a \\u escape is a lone low surrogate", 0;
  if (cp >= 0xd800 && cp <= 0xdbff) {
    long lo = src[4] == '\\' && src[5] == 'u' ? hex4(src + 6) : -1;
    if (lo < 0xdc00 || lo > 0xdfff) return *why = "a \\u escape is a high surrogate without its low half", 0;
    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    used = 10;
  }
  if (cp == 0) return *why = "\\u0000 in a string", 0;
  char *d = *dst;
  if (cp < 0x80) {
    *d++ = (char)cp;
  } else if (cp < 0x800) {
    *d++ = (char)(0xc0 | (cp >> 6));
    *d++ = (char)(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    *d++ = (char)(0xe0 | (cp >> 12));
    *d++ = (char)(0x80 | ((cp >> 6) & 0x3f));
    *d++ = (char)(0x80 | (cp & 0x3f));
  } else {
    *d++ = (char)(0xf0 | (cp >> 18));
    *d++ = (char)(0x80 | ((cp >> 12) & 0x3f));
    *d++ = (char)(0x80 | ((cp >> 6) & 0x3f));
    *d++ = (char)(0x80 | (cp & 0x3f));
  }
  *dst = d;
  return used;
}

/* Reads a string starting at the opening quote; *out is NUL-terminated in place. */
static int read_string(struct cursor *c, const char **out) {
  if (*c->p != '"') return fail(c, "expected a string");
  char *src = ++c->p, *dst = src;
  *out = dst;
  for (;;) {
    char ch = *src++;
    if (ch == 0) return fail(c, "unterminated string");
    if (ch == '"') break;
    if ((unsigned char)ch < 0x20) return fail(c, "control character in a string");
    if (ch == '\\') {
      char e = *src++;
      switch (e) {
      case '"': case '\\': case '/': ch = e; break;
      case 'n': ch = '\n'; break;
      case 't': ch = '\t'; break;
      case 'r': ch = '\r'; break;
      case 'b': ch = '\b'; break;
      case 'f': ch = '\f'; break;
      case 'u': {
        const char *why = "";
        int used = read_unicode(src, &dst, &why);
        if (used == 0) return fail(c, why);
        src += used;
        continue;
      }
      default: return fail(c, "unsupported escape in a string");
      }
    }
    *dst++ = ch;
  }
  *dst = 0;
  c->p = src;
  return 0;
}

static int read_value(struct cursor *c, struct jl_value *v) {
  memset(v, 0, sizeof *v);
  char ch = *c->p;
  if (ch == '"') {
    v->type = JL_STRING;
    return read_string(c, &v->str);
  }
  if (ch == '[') {
    v->type = JL_LIST;
    c->p++;
    skip_space(c);
    if (*c->p == ']') {
      c->p++;
      return 0;
    }
    for (;;) {
      skip_space(c);
      if (v->count == JL_MAX_LIST) return fail(c, "list too long");
      if (read_string(c, &v->items[v->count++])) return -1;
      skip_space(c);
      if (*c->p == ']') {
        c->p++;
        return 0;
      }
      if (*c->p++ != ',') return fail(c, "expected ',' or ']' in a list");
    }
  }
  if (ch == '-' || (ch >= '0' && ch <= '9')) {
    char *end;
    errno = 0;
    v->type = JL_INTEGER;
    v->integer = strtoll(c->p, &end, 10);
    if (errno || *end == '.' || *end == 'e' || *end == 'E') return fail(c, "number is not a small integer");
    c->p = end;
    return 0;
  }
  static const char *const words[] = {"true", "false", "null"};
  for (size_t i = 0; i < 3; i++) {
    size_t n = strlen(words[i]);
    if (strncmp(c->p, words[i], n) == 0) {
      v->type = JL_OTHER;
      c->p += n;
      return 0;
    }
  }
  return fail(c, "unexpected value");
}

int jl_parse(char *line, struct jl_object *obj, char *why, size_t why_len) {
  struct cursor c = {.p = line, .why = why, .why_len = why_len};
  obj->count = 0;
  skip_space(&c);
  if (*c.p++ != '{') return fail(&c, "a line must be an object");
  skip_space(&c);
  if (*c.p == '}') {
    c.p++;
  } else {
    for (;;) {
      skip_space(&c);
      if (obj->count == JL_MAX_FIELDS) return fail(&c, "too many fields");
      const char *key;
      if (read_string(&c, &key)) return -1;
      if (jl_get(obj, key)) {
        snprintf(why, why_len, "field \"%s\" given twice", key);
        return -1;
      }
      skip_space(&c);
      if (*c.p++ != ':') return fail(&c, "expected ':'");
      skip_space(&c);
      if (read_value(&c, &obj->values[obj->count])) return -1;
      obj->keys[obj->count++] = key;
      skip_space(&c);
      if (*c.p == '}') {
        c.p++;
        break;
      }
      if (*c.p++ != ',') return fail(&c, "expected ',' or '}'");
    }
  }
  skip_space(&c);
  if (*c.p) return fail(&c, "text after the object");
  return 0;
}

const struct jl_value *jl_get(const struct jl_object *obj, const char *key) {
  for (int i = 0; i < obj->count; i++)
    if (strcmp(obj->keys[i], key) == 0) return &obj->values[i];
  return NULL;
}
