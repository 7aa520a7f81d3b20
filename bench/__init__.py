"""The benchmark ladder: raw client ceiling (L3) up to the real worker (L6). See bench/README.md."""
