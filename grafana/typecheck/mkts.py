#!/usr/bin/python3
"""Write a TypeScript file that types a Grafana dashboard JSON with @grafana/schema:
the whole dashboard as `Dashboard`, and each panel's options and custom field config as
the Options / FieldConfig of its panel plugin. tsc then reports unknown keys, wrong
types and values outside an enum.

    mkts.py OUT.ts DASHBOARD.json...

String enums of the schema accept their literal values (Loose<T>), as JSON has no enums."""
import json
import sys

PANELCFG = "@grafana/schema/dist/esm/raw/composable/%s/panelcfg/x/%s_types.gen.js"
PLUGINS = {  # panel type -> (module folder, type file prefix)
    "timeseries": ("timeseries", "TimeSeriesPanelCfg"),
    "stat": ("stat", "StatPanelCfg"),
    "state-timeline": ("statetimeline", "StateTimelinePanelCfg"),
    "table": ("table", "TablePanelCfg"),
    "bargauge": ("bargauge", "BarGaugePanelCfg"),
    "gauge": ("gauge", "GaugePanelCfg"),
}
# panel types whose FieldConfig in the schema has no `custom` part to check
NO_CUSTOM = {"stat", "bargauge", "gauge"}


def walk(panels):
    for p in panels:
        yield p
        yield from walk(p.get("panels", []))


def main(out_path, dashboards):
    out = ["import type { Dashboard } from '@grafana/schema';"]
    for folder, prefix in PLUGINS.values():
        out.append("import type * as %s from '%s';" % (folder, PANELCFG % (folder, prefix)))
    out.append("""
type Loose<T> = T extends string ? `${T}` | T
  : T extends (infer U)[] ? Loose<U>[]
  : T extends object ? { [K in keyof T]: Loose<T[K]> }
  : T;
""")
    for n, path in enumerate(dashboards):
        with open(path) as f:
            d = json.load(f)
        out.append("// %s" % path)
        out.append("export const dashboard%d: Loose<Dashboard> = %s;" % (n, json.dumps(d, indent=1)))
        for p in walk(d.get("panels", [])):
            if p["type"] == "row":
                continue
            if p["type"] not in PLUGINS:
                sys.exit("%s: panel %r: no schema mapping for panel type %s"
                         % (path, p.get("title"), p["type"]))
            folder = PLUGINS[p["type"]][0]
            tag = "d%dp%d" % (n, p["id"])
            out.append("// %s panel %d %r" % (path, p["id"], p.get("title")))
            out.append("export const %s_options: Loose<%s.Options> = %s;"
                       % (tag, folder, json.dumps(p.get("options", {}))))
            custom = p.get("fieldConfig", {}).get("defaults", {}).get("custom")
            if custom is not None and p["type"] not in NO_CUSTOM:
                out.append("export const %s_custom: Loose<%s.FieldConfig> = %s;"
                           % (tag, folder, json.dumps(custom)))
    with open(out_path, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
