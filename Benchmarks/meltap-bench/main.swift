print("meltap-bench: not yet")
