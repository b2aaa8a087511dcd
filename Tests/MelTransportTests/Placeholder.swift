import Testing

@Test func placeholder_MelTransportTests() {}
