print("meltap-testsource: not yet")
