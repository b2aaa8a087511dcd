import Testing

@Test func placeholder_MeltapCLITests() {}
