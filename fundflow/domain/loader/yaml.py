"""The YAML reader: safe, and refusing a key given twice."""

from __future__ import annotations

import yaml

#: yaml.safe_load's loader, in C when libyaml is there (about 8x faster).
_BASE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _SAFE_LOADER(_BASE_LOADER):
    """yaml.safe_load's loader, refusing a key given twice in one mapping (the YAML spec
    forbids it; PyYAML would keep the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int)) and key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"duplicate key '{key}' (first at line {seen[key] + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)
