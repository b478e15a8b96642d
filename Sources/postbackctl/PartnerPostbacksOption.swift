import ArgumentParser

/// `--partner-postbacks on|off`: the daemon's `partner_postbacks` setting, so `plan` and
/// `test-fire` show what the daemon would do when the network has switched partner-authored
/// postbacks off.
enum PartnerPostbacks: String, ExpressibleByArgument, CaseIterable {
    case on, off
}
