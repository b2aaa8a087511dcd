import Testing

@Test func placeholder_MelJackTests() {}
