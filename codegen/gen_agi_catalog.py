#!/usr/bin/env python3
"""Generate the FastAGI command catalog and typed builders from Asterisk's documentation.

usage: gen_agi_catalog.py <ami-agi-digest.json> <out_dir>
writes <out_dir>/agi_commands.hpp (builder declarations, namespace astra::agi::cmd)
       <out_dir>/agi_catalog.cpp  (catalog data + builder definitions)

Names, parameters and required flags come from the digest (Asterisk 22's XML docs, 47 AGI
commands). The docs carry nothing about dead channels (dead_channel_ok is null), so the flags
are data below, copied from the `dead` field of res_agi.c's `static struct agi_command
commands[]` (1 = runs on a dead channel) and app_stack.c's gosub registration (0); the recorded
session tests/data/asterisk/fixtures/agi/agi-hangup-mid-session.jsonl confirms them (511 for
every 0 it exercises, 200 for every 1).
The wire types of the parameters (text / digits / milliseconds ...) are not documented either:
they are data below (BUILDER_TYPES); the generator fails if the docs and that table disagree.
"""
import json
import os
import sys

# res_agi.c commands[] `dead` flags (Asterisk 22), gosub from app_stack.c.
DEAD_OK = {
    "answer": 0, "asyncagi break": 1, "channel status": 0,
    "database del": 1, "database deltree": 1, "database get": 1, "database put": 1,
    "exec": 1, "get data": 0, "get full variable": 1, "get option": 0, "get variable": 1,
    "hangup": 0, "noop": 1, "receive char": 0, "receive text": 0, "record file": 0,
    "say alpha": 0, "say digits": 0, "say number": 0, "say phonetic": 0, "say date": 0,
    "say time": 0, "say datetime": 0, "send image": 0, "send text": 0, "set autohangup": 0,
    "set callerid": 0, "set context": 0, "set extension": 0, "set music": 0,
    "set priority": 0, "set variable": 1, "stream file": 0, "control stream file": 0,
    "tdd mode": 0, "verbose": 1, "wait for digit": 0, "speech create": 0, "speech set": 0,
    "speech destroy": 1, "speech load grammar": 0, "speech unload grammar": 1,
    "speech activate grammar": 0, "speech deactivate grammar": 0, "speech recognize": 0,
    "gosub": 0,
}

# Builder parameter types. kinds:
#   text    std::string_view, quoted when needed        quoted  std::string_view, always quoted
#   digits  escape digits (std::string_view, always quoted, "" = none)
#   int     long      ms  std::chrono::milliseconds    sec  std::chrono::seconds
#   onoff   bool -> on/off     beep  bool -> "BEEP" when true     silence  seconds -> "s=<n>"
# (doc name, C++ name, kind, optional?, placeholder written when skipped before a later optional)
# `optional` may differ from the docs where res_agi.c accepts the omission (noted).
BUILDER_TYPES = {
    "gosub": [("context", "context", "text", False, None), ("extension", "extension", "text", False, None),
              ("priority", "priority", "text", False, None),
              ("optional-argument", "arguments", "quoted", True, None)],
    "answer": [],
    "asyncagi break": [],
    "channel status": [("channelname", "channel_name", "text", True, None)],
    "control stream file": [("filename", "filename", "text", False, None),
                            ("escape_digits", "escape_digits", "digits", False, None),
                            ("skipms", "skip", "ms", True, "3000"), ("ffchar", "ff_char", "text", True, ""),
                            ("rewchr", "rew_char", "text", True, ""), ("pausechr", "pause_char", "text", True, ""),
                            ("offsetms", "offset", "ms", True, None)],
    "database del": [("family", "family", "text", False, None), ("key", "key", "text", False, None)],
    "database deltree": [("family", "family", "text", False, None), ("keytree", "keytree", "text", True, None)],
    "database get": [("family", "family", "text", False, None), ("key", "key", "text", False, None)],
    "database put": [("family", "family", "text", False, None), ("key", "key", "text", False, None),
                     ("value", "value", "text", False, None)],
    # res_agi.c handle_exec accepts "EXEC <app>" alone (argc >= 2).
    "exec": [("application", "application", "text", False, None), ("options", "options", "text", True, None)],
    "get data": [("file", "file", "text", False, None), ("timeout", "timeout", "ms", True, "0"),
                 ("maxdigits", "max_digits", "int", True, None)],
    "get full variable": [("expression", "expression", "text", False, None),
                          ("channelname", "channel_name", "text", True, None)],
    "get option": [("filename", "filename", "text", False, None),
                   ("escape_digits", "escape_digits", "digits", False, None), ("timeout", "timeout", "ms", True, None)],
    "get variable": [("variablename", "name", "text", False, None)],
    "hangup": [("channelname", "channel_name", "text", True, None)],
    "noop": [],
    "receive char": [("timeout", "timeout", "ms", False, None)],
    "receive text": [("timeout", "timeout", "ms", False, None)],
    "record file": [("filename", "filename", "text", False, None), ("format", "format", "text", False, None),
                    ("escape_digits", "escape_digits", "digits", False, None), ("timeout", "timeout", "ms", False, None),
                    ("offset_samples", "offset_samples", "int", True, "0"), ("beep", "beep", "beep", True, None),
                    ("s=silence", "silence", "silence", True, None)],
    "say alpha": [("number", "text", "text", False, None), ("escape_digits", "escape_digits", "digits", False, None)],
    "say digits": [("number", "digits", "text", False, None), ("escape_digits", "escape_digits", "digits", False, None)],
    "say number": [("number", "number", "text", False, None), ("escape_digits", "escape_digits", "digits", False, None),
                   ("gender", "gender", "text", True, None)],
    "say phonetic": [("string", "text", "text", False, None), ("escape_digits", "escape_digits", "digits", False, None)],
    "say date": [("date", "date", "int", False, None), ("escape_digits", "escape_digits", "digits", False, None)],
    "say time": [("time", "time", "int", False, None), ("escape_digits", "escape_digits", "digits", False, None)],
    "say datetime": [("time", "time", "int", False, None), ("escape_digits", "escape_digits", "digits", False, None),
                     ("format", "format", "text", True, ""), ("timezone", "timezone", "text", True, None)],
    "send image": [("image", "image", "text", False, None)],
    "send text": [("text to send", "text", "quoted", False, None)],
    "set autohangup": [("time", "time", "sec", False, None)],
    "set callerid": [("number", "caller_id", "text", False, None)],
    "set context": [("desired context", "context", "text", False, None)],
    "set extension": [("new extension", "extension", "text", False, None)],
    # res_agi.c handle_setmusic accepts "SET MUSIC off" (class defaults to "default").
    "set music": [("boolean", "on", "onoff", False, None), ("class", "music_class", "text", True, None)],
    "set priority": [("priority", "priority", "text", False, None)],
    "set variable": [("variablename", "name", "text", False, None), ("value", "value", "text", False, None)],
    "stream file": [("filename", "filename", "text", False, None),
                    ("escape_digits", "escape_digits", "digits", False, None),
                    ("sample offset", "sample_offset", "int", True, None)],
    "tdd mode": [("boolean", "mode", "text", False, None)],
    "verbose": [("message", "message", "text", False, None), ("level", "level", "int", False, None)],
    "wait for digit": [("timeout", "timeout", "ms", False, None)],
    "speech create": [("engine", "engine", "text", False, None)],
    "speech set": [("name", "name", "text", False, None), ("value", "value", "text", False, None)],
    "speech destroy": [],
    "speech load grammar": [("grammar name", "grammar", "text", False, None),
                            ("path to grammar", "path", "text", False, None)],
    "speech unload grammar": [("grammar name", "grammar", "text", False, None)],
    "speech activate grammar": [("grammar name", "grammar", "text", False, None)],
    "speech deactivate grammar": [("grammar name", "grammar", "text", False, None)],
    "speech recognize": [("prompt", "prompt", "text", False, None), ("timeout", "timeout", "ms", False, None),
                         ("offset", "offset", "int", True, None)],
}

CPP_TYPE = {
    "text": "std::string_view", "quoted": "std::string_view", "digits": "std::string_view",
    "int": "long", "ms": "std::chrono::milliseconds", "sec": "std::chrono::seconds",
    "onoff": "bool", "beep": "bool", "silence": "std::chrono::seconds",
}
TO_ARG = {  # expression producing std::optional<command_arg> from a value `v`
    "text": "detail::text_arg({v})", "quoted": "detail::quoted_arg({v})", "digits": "detail::quoted_arg({v})",
    "int": "detail::int_arg({v})", "ms": "detail::int_arg({v}.count())", "sec": "detail::int_arg({v}.count())",
    "onoff": "detail::text_arg({v} ? \"on\" : \"off\")", "beep": "detail::beep_arg({v})",
    "silence": "detail::silence_arg({v}.count())",
}


def c_str(s):
    return json.dumps(s)


def main():
    digest_path, out_dir = sys.argv[1], sys.argv[2]
    with open(digest_path, encoding="utf-8") as f:
        digest = json.load(f)
    commands = digest["agi_commands"]
    names = [c["name"] for c in commands]
    if len(commands) != 47:
        sys.exit(f"expected 47 AGI commands, found {len(commands)}")
    if set(names) != set(DEAD_OK) or set(names) != set(BUILDER_TYPES):
        sys.exit(f"AGI command set changed: {sorted(set(names) ^ set(DEAD_OK))}")
    for c in commands:
        doc = [p["name"] for p in c["parameters"]]
        table = [t[0] for t in BUILDER_TYPES[c["name"]]]
        if doc != table:
            sys.exit(f"parameters of {c['name']!r} changed: docs {doc} vs table {table}")
        if c.get("dead_channel_ok") is not None and bool(c["dead_channel_ok"]) != bool(DEAD_OK[c["name"]]):
            sys.exit(f"dead_channel_ok of {c['name']!r} disagrees with res_agi.c")

    os.makedirs(out_dir, exist_ok=True)
    hpp, cpp = [], []
    hpp.append("#pragma once\n// GENERATED by codegen/gen_agi_catalog.py from ami-agi-digest.json: do not edit.\n"
               "// Typed builders, one per AGI command of Asterisk 22: each returns the LF-terminated command\n"
               "// line (format_command errors: invalid_argument, too_many_arguments, line_too_long).\n"
               "// An optional parameter left empty is omitted, unless a later one is given: then a neutral\n"
               "// placeholder is written in its place (\"\" or Asterisk's default).\n"
               "#include <chrono>\n#include <optional>\n#include <string>\n#include <string_view>\n\n"
               "#include \"protocols/agi/command.hpp\"\n\nnamespace astra::agi::cmd {\n")
    cpp.append("// GENERATED by codegen/gen_agi_catalog.py from ami-agi-digest.json: do not edit.\n"
               "#include \"protocols/agi/command.hpp\"\n#include \"protocols/agi/command_detail.hpp\"\n\n"
               "namespace astra::agi {\nnamespace {\n")
    for i, c in enumerate(commands):
        params = ", ".join(f"{{{c_str(p['name'])}, {'true' if p['required'] else 'false'}}}" for p in c["parameters"])
        if params:
            cpp.append(f"constexpr command_param params_{i}[] = {{{params}}};\n")
    cpp.append("constexpr command_spec catalog[] = {\n")
    for i, c in enumerate(commands):
        n = c["name"]
        ps = f"std::span<const command_param>(params_{i})" if c["parameters"] else "std::span<const command_param>()"
        cpp.append(f"    {{{c_str(n)}, {c_str(n.upper())}, {len(n.split())}, {ps}, "
                   f"{'true' if DEAD_OK[n] else 'false'}}},\n")
    cpp.append("};\n}  // namespace\n\nstd::span<const command_spec> all_commands() noexcept { return catalog; }\n\n"
               "}  // namespace astra::agi\n\nnamespace astra::agi::cmd {\n")

    for c in commands:
        n = c["name"]
        fn = n.replace(" ", "_")
        types = BUILDER_TYPES[n]
        decl_params, def_params, slots = [], [], []
        for (doc, cname, kind, optional, placeholder) in types:
            t = CPP_TYPE[kind]
            if kind == "beep":
                decl_params.append(f"bool {cname} = false")
                def_params.append(f"bool {cname}")
                slots.append(f"{{{TO_ARG[kind].format(v=cname)}, nullptr}}")
            elif optional:
                decl_params.append(f"std::optional<{t}> {cname} = std::nullopt")
                def_params.append(f"std::optional<{t}> {cname}")
                conv = TO_ARG[kind].format(v=f"(*{cname})")
                slots.append(f"{{{cname} ? {conv} : std::nullopt, {c_str(placeholder or '')}}}")
            else:
                decl_params.append(f"{t} {cname}")
                def_params.append(f"{t} {cname}")
                slots.append(f"{{{TO_ARG[kind].format(v=cname)}, \"\"}}")
        doc_syntax = " ".join((p["name"] if p["required"] else f"[{p['name']}]") for p in c["parameters"])
        hpp.append(f"// {n.upper()} {doc_syntax}".rstrip() + f"  (dead channel: {'yes' if DEAD_OK[n] else 'no'})\n")
        hpp.append(f"astra::result<std::string> {fn}({', '.join(decl_params)});\n")
        cpp.append(f"astra::result<std::string> {fn}({', '.join(def_params)}) {{\n"
                   f"  return detail::build({c_str(n.upper())}, {{{', '.join(slots)}}});\n}}\n")
    hpp.append("\n}  // namespace astra::agi::cmd\n")
    cpp.append("\n}  // namespace astra::agi::cmd\n")

    def write(path, text):
        old = None
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                old = f.read()
        if old != text:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)

    write(os.path.join(out_dir, "agi_commands.hpp"), "".join(hpp))
    write(os.path.join(out_dir, "agi_catalog.cpp"), "".join(cpp))


if __name__ == "__main__":
    main()
