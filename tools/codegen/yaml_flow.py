"""Parser for the YAML flow literals of src/config/arguments.tsv (null, true, 1, 0.5, 'str', [..]).

PyYAML is not guaranteed on the machines (no PyPI), and the table only holds these literal forms.
"""


def parse(text):
    text = text.strip()
    value, rest = _value(text)
    if rest.strip():
        raise ValueError(f"trailing text in literal {text!r}")
    return value


def _value(s):
    s = s.lstrip()
    if s == "":
        return None, ""
    if s[0] == "[":
        items, s = [], s[1:].lstrip()
        if s.startswith("]"):
            return items, s[1:]
        while True:
            v, s = _value(s)
            items.append(v)
            s = s.lstrip()
            if s.startswith(","):
                s = s[1:]
                continue
            if s.startswith("]"):
                return items, s[1:]
            raise ValueError("bad list literal")
    if s[0] == "'":
        i, out = 1, []
        while True:
            if s[i] == "'":
                if i + 1 < len(s) and s[i + 1] == "'":
                    out.append("'")
                    i += 2
                    continue
                return "".join(out), s[i + 1:]
            out.append(s[i])
            i += 1
    end = len(s)
    for stop in ",]":
        j = s.find(stop)
        if j != -1:
            end = min(end, j)
    token, rest = s[:end].strip(), s[end:]
    if token == "null":
        return None, rest
    if token in ("true", "false"):
        return token == "true", rest
    try:
        return int(token), rest
    except ValueError:
        return float(token), rest
