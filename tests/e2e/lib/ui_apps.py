#!/usr/bin/env python3
"""Margo packages for the browser test: ui_apps.py OUTDIR N

Writes OUTDIR/<name>/margo.yaml + resources/ for
  weather   the application the test walks through: Markdown description
            and release notes, two profiles (arm64 2 cores / amd64 8 cores),
            a configuration with string (regex, length), integer (range),
            double (precision), select and an immutable setting
  hostile   a description file with <script> and javascript: links,
            release notes with 100 KB of "[" in one paragraph
  fill-NNN  N-2 small ones, so the catalog holds N applications
Written for this test (shaped like the Margo model/ examples)."""
import os
import struct
import sys
import zlib


def png(rgb):
    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c) & 0xffffffff)
    raw = b"".join(b"\0" + bytes(rgb) * 16 for _ in range(16))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


PDF = b"%PDF-1.1\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def write(d, name, files):
    os.makedirs(os.path.join(d, name, "resources"), exist_ok=True)
    for path, data in files.items():
        with open(os.path.join(d, name, path), "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())


def description(app_id, name, version, tagline, tags, org, profiles, extra=""):
    return f"""apiVersion: margo.org/v1-alpha1
kind: ApplicationDescription
metadata:
  id: {app_id}
  name: {name}
  description: {name} for the plant floor.
  version: {version}
  catalog:
    application:
      descriptionFile: resources/description.md
      icon: resources/icon.png
      licenseFile: resources/license.pdf
      releaseNotes: resources/release-notes.md
      site: https://{org.lower()}.example.com
      tagline: {tagline}
      tags: [{", ".join(tags)}]
    author:
      - name: Rae Field
        email: rae@{org.lower()}.example.com
    organization:
      - name: {org}
        site: https://{org.lower()}.example.com
deploymentProfiles:
{profiles}{extra}"""


PROFILES = """  - type: helm.v3
    id: edge-arm64
    description: Kubernetes on small arm64 devices
    requiredResources:
      cpu:
        cores: 2
        architectures: [arm64]
      memory: 512Mi
      storage: 1Gi
    components:
      - name: station
        properties:
          repository: oci://charts.example.com/weather/station
          revision: 2.1.0
  - type: helm.v3
    id: big-amd64
    description: Kubernetes on large amd64 servers
    requiredResources:
      cpu:
        cores: 8
        architectures: [amd64]
      memory: 16Gi
      storage: 100Gi
    components:
      - name: station
        properties:
          repository: oci://charts.example.com/weather/station
          revision: 2.1.0
"""

CONFIG = """parameters:
  siteName:
    value: north-field
    targets:
      - pointer: site.name
        components: [station]
  interval:
    value: 60
    targets:
      - pointer: sampling.intervalSeconds
        components: [station]
  offset:
    value: 0.5
    targets:
      - pointer: sampling.offset
        components: [station]
  units:
    value: metric
    targets:
      - pointer: display.units
        components: [station]
  vendorKey:
    value: WX-1
    targets:
      - pointer: vendor.key
        components: [station]
configuration:
  sections:
    - name: Station
      description: Where the station is and how often it samples.
      settings:
        - parameter: siteName
          name: Site name
          description: Lowercase letters, digits and dashes.
          schema: siteRule
        - parameter: interval
          name: Sampling interval (seconds)
          schema: intervalRule
        - parameter: offset
          name: Calibration offset
          schema: offsetRule
    - name: Display
      settings:
        - parameter: units
          name: Units
          schema: unitsRule
        - parameter: vendorKey
          name: Vendor key
          immutable: true
          schema: keyRule
  schema:
    - name: siteRule
      dataType: string
      minLength: 3
      maxLength: 20
      allowEmpty: false
      regexMatch: "^[a-z0-9-]+$"
    - name: intervalRule
      dataType: integer
      minValue: 10
      maxValue: 3600
    - name: offsetRule
      dataType: double
      minValue: -5
      maxValue: 5
      minPrecision: 1
      maxPrecision: 2
    - name: unitsRule
      dataType: string
      options: [metric, imperial]
      allowEmpty: false
    - name: keyRule
      dataType: string
"""

WEATHER_MD = """# Weather Station

Collects **temperature**, *humidity* and `wind` readings.

## Features

- Local dashboard
- Export to [the docs](https://weather.example.com/docs)
- Works offline

1. Install
2. Configure
"""

HOSTILE_MD = """# Hostile

<script>window.__pwned = 1</script>

<img src=x onerror="window.__pwned = 2">

A [bad link](javascript:window.__pwned=3) and a [data link](data:text/html,hi)
and a [good link](https://good.example.com/).
"""


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    common = {"resources/icon.png": png((40, 120, 200)), "resources/license.pdf": PDF}
    write(out, "weather", dict(common, **{
        "margo.yaml": description("com-example-weather", "Weather Station", "2.1.0",
                                  "Local weather for every field.", ["sensors", "weather"],
                                  "Skyworks", PROFILES, CONFIG),
        "resources/description.md": WEATHER_MD,
        "resources/release-notes.md": "# 2.1.0\n\n- Faster sampling\n- Fixed `offset` rounding\n",
    }))
    write(out, "hostile", dict(common, **{
        "margo.yaml": description("com-example-hostile", "Hostile Widget", "1.0.0",
                                  "<b>not bold</b>", ["test"], "Mallory", PROFILES),
        "resources/description.md": HOSTILE_MD,
        # a dead link, then 100 KB of "[" in one paragraph
        "resources/release-notes.md": "[click](javascript:alert(1))\n\n" + "[" * 100000 + "\n",
    }))
    tags = ["monitoring", "vision", "analytics", "control", "energy", "safety"]
    for i in range(max(0, n - 2)):
        write(out, "fill-%03d" % i, dict(common, **{
            "resources/icon.png": png((i % 256, (i * 7) % 256, (i * 13) % 256)),
            "margo.yaml": description("com-example-fill-%03d" % i, "Filler App %03d" % i, "1.0.%d" % (i % 5),
                                      "Filler number %d." % i, [tags[i % 6], tags[(i + 2) % 6]],
                                      ["Acme", "Globex", "Initech"][i % 3], PROFILES),
            "resources/description.md": "# Filler %d\n\nNothing to see.\n" % i,
            "resources/release-notes.md": "- first\n",
        }))


if __name__ == "__main__":
    main()
