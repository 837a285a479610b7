{
  "targets": [
    {
      "target_name": "vswitch_io",
      "sources": ["src/datapath/native/vswitch_io.c", "src/datapath/native/link.c", "src/datapath/native/burst.c", "src/datapath/native/stream.c", "src/datapath/native/ring.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags": ["-Wall", "-Wextra", "-fvisibility=hidden"],
      "cflags_c": ["-std=gnu11"]
    }
  ]
}
