{
  "targets": [
    {
      "target_name": "vswitch_io",
      "sources": ["src/datapath/native/vswitch_io.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags": ["-Wall", "-Wextra"],
      "cflags_c": ["-std=gnu11"]
    }
  ]
}
