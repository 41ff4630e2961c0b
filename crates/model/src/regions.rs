//! The AWS region codes the desired-state file may name.
//!
//! A static list so `validate` works offline: a typo such as `ap-northeast1` is caught before
//! any AWS call. Must not: call AWS to discover regions (opt-in regions are still listed here;
//! whether an account has enabled them is the reconciler's concern).

/// Commercial, GovCloud and China partition regions, sorted.
pub const AWS_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-west-1",
    "us-west-2",
];

/// True when `code` is a known AWS region code.
pub fn is_known_region(code: &str) -> bool {
    AWS_REGIONS.binary_search(&code).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_sorted_and_unique_so_binary_search_works() {
        assert!(AWS_REGIONS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn knows_real_regions_and_refuses_typos() {
        assert!(is_known_region("ap-northeast-1"));
        assert!(is_known_region("us-east-1"));
        assert!(!is_known_region("ap-northeast1"));
        assert!(!is_known_region("us-east-9"));
        assert!(!is_known_region(""));
    }
}
