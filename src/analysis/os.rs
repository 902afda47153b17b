//! Windows releases by build number, as reported in the NTLM VERSION structure
//! (MS-NLMP 2.2.2.10), with the date support ends.
//!
//! NTLM reports `major.minor.build` only: it cannot tell a client edition from the server
//! edition that shares the build (17763 is both Windows 10 1809 and Server 2019), nor an LTSC
//! or IoT edition from the general one. So each entry names every release that shares the build
//! (`"Windows 10 1809 / Server 2019"`) and carries the LATEST end-of-support date among them:
//! an `os-end-of-support` finding is raised only when every edition with that build is out of
//! support, never on a guess.
//!
//! Dates are the end of extended support (servers, Windows 7/8.1, LTSB/LTSC) or the end of
//! servicing for the longest-serviced edition of a Windows 10/11 feature update (usually
//! Enterprise/Education), from Microsoft's product lifecycle pages. Paid Extended Security
//! Updates (ESU) are not counted. A build that is not in the table is reported as
//! `unknown build N`, never matched to the nearest known build.

use time::{Date, Month};

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowsRelease {
    /// NTLM VERSION major and minor (`10.0`, `6.3`, ...): a build only matches with these.
    pub major: u8,
    pub minor: u8,
    pub build: u16,
    /// Every release that shares the build, e.g. `Windows 10 1809 / Server 2019`.
    pub name: &'static str,
    /// The latest end-of-support date among those releases (year, month, day).
    pub end_of_support: (i32, u8, u8),
    /// Which edition that date belongs to.
    pub end_of_support_edition: &'static str,
}

impl WindowsRelease {
    /// The end-of-support date as a `time::Date` (`None` only if the table held a bad date,
    /// which the tests rule out).
    pub fn end_of_support_date(&self) -> Option<Date> {
        let (y, m, d) = self.end_of_support;
        Date::from_calendar_date(y, Month::try_from(m).ok()?, d).ok()
    }
}

const fn r(
    major: u8,
    minor: u8,
    build: u16,
    name: &'static str,
    end_of_support: (i32, u8, u8),
    end_of_support_edition: &'static str,
) -> WindowsRelease {
    WindowsRelease {
        major,
        minor,
        build,
        name,
        end_of_support,
        end_of_support_edition,
    }
}

/// The table, ordered by build.
pub const RELEASES: &[WindowsRelease] = &[
    r(5, 1, 2600, "Windows XP", (2014, 4, 8), "Windows XP SP3"),
    r(
        5,
        2,
        3790,
        "Windows Server 2003 / XP x64",
        (2015, 7, 14),
        "Server 2003 R2 SP2",
    ),
    r(
        6,
        0,
        6000,
        "Windows Vista (RTM)",
        (2010, 4, 13),
        "Vista RTM (SP1 required afterwards)",
    ),
    r(
        6,
        0,
        6001,
        "Windows Vista SP1 / Server 2008",
        (2011, 7, 12),
        "SP1 (SP2 required afterwards)",
    ),
    r(
        6,
        0,
        6002,
        "Windows Vista SP2 / Server 2008 SP2",
        (2020, 1, 14),
        "Server 2008 SP2",
    ),
    r(
        6,
        0,
        6003,
        "Windows Server 2008 SP2",
        (2020, 1, 14),
        "Server 2008 SP2",
    ),
    r(
        6,
        1,
        7600,
        "Windows 7 / Server 2008 R2 (RTM)",
        (2013, 4, 9),
        "RTM (SP1 required afterwards)",
    ),
    r(
        6,
        1,
        7601,
        "Windows 7 SP1 / Server 2008 R2 SP1",
        (2020, 1, 14),
        "Windows 7 SP1 / Server 2008 R2 SP1",
    ),
    r(
        6,
        2,
        9200,
        "Windows 8 / Server 2012",
        (2023, 10, 10),
        "Server 2012",
    ),
    r(
        6,
        3,
        9600,
        "Windows 8.1 / Server 2012 R2",
        (2023, 10, 10),
        "Server 2012 R2",
    ),
    r(
        10,
        0,
        10240,
        "Windows 10 1507 / LTSB 2015",
        (2025, 10, 14),
        "Windows 10 Enterprise LTSB 2015",
    ),
    r(
        10,
        0,
        10586,
        "Windows 10 1511",
        (2018, 4, 10),
        "Enterprise/Education",
    ),
    r(
        10,
        0,
        14393,
        "Windows 10 1607 / Server 2016",
        (2027, 1, 12),
        "Server 2016",
    ),
    r(
        10,
        0,
        15063,
        "Windows 10 1703",
        (2019, 10, 8),
        "Enterprise/Education",
    ),
    r(
        10,
        0,
        16299,
        "Windows 10 1709 / Server 1709",
        (2020, 10, 13),
        "Enterprise/Education",
    ),
    r(
        10,
        0,
        17134,
        "Windows 10 1803 / Server 1803",
        (2021, 5, 11),
        "Enterprise/Education",
    ),
    r(
        10,
        0,
        17763,
        "Windows 10 1809 / Server 2019",
        (2029, 1, 9),
        "Server 2019 / LTSC 2019",
    ),
    r(
        10,
        0,
        18362,
        "Windows 10 1903 / Server 1903",
        (2020, 12, 8),
        "all editions",
    ),
    r(
        10,
        0,
        18363,
        "Windows 10 1909 / Server 1909",
        (2022, 5, 10),
        "Enterprise/Education",
    ),
    r(
        10,
        0,
        19041,
        "Windows 10 2004 / Server 2004",
        (2021, 12, 14),
        "all editions",
    ),
    r(
        10,
        0,
        19042,
        "Windows 10 20H2 / Server 20H2",
        (2023, 5, 9),
        "Enterprise/Education",
    ),
    r(
        10,
        0,
        19043,
        "Windows 10 21H1",
        (2022, 12, 13),
        "all editions",
    ),
    r(
        10,
        0,
        19044,
        "Windows 10 21H2 / LTSC 2021",
        (2032, 1, 13),
        "IoT Enterprise LTSC 2021",
    ),
    r(
        10,
        0,
        19045,
        "Windows 10 22H2",
        (2025, 10, 14),
        "all editions (ESU not counted)",
    ),
    r(
        10,
        0,
        20348,
        "Windows Server 2022",
        (2031, 10, 14),
        "Server 2022",
    ),
    r(
        10,
        0,
        22000,
        "Windows 11 21H2",
        (2024, 10, 8),
        "Enterprise/Education",
    ),
    r(
        10,
        0,
        22621,
        "Windows 11 22H2",
        (2025, 10, 14),
        "Enterprise/Education",
    ),
    r(
        10,
        0,
        22631,
        "Windows 11 23H2",
        (2026, 11, 10),
        "Enterprise/Education",
    ),
    r(
        10,
        0,
        25398,
        "Windows Server 23H2",
        (2025, 10, 24),
        "Server 23H2 (Annual Channel)",
    ),
    r(
        10,
        0,
        26100,
        "Windows 11 24H2 / Server 2025",
        (2034, 11, 14),
        "Server 2025",
    ),
    r(
        10,
        0,
        26200,
        "Windows 11 25H2",
        (2028, 10, 10),
        "Enterprise/Education",
    ),
];

/// The release with exactly this version, if the table knows it. `major.minor` must match too:
/// a 10.0 build 7601 is not Windows 7.
pub fn lookup(major: u8, minor: u8, build: u16) -> Option<&'static WindowsRelease> {
    RELEASES
        .iter()
        .find(|r| r.build == build && r.major == major && r.minor == minor)
}

/// The name to show for a version: the table's name, or `unknown build N` (never a guess).
pub fn release_name(major: u8, minor: u8, build: u16) -> String {
    match lookup(major, minor, build) {
        Some(r) => r.name.to_owned(),
        None => format!("unknown build {build}"),
    }
}

/// Whether support has ended at `today`: `Some(true)` after the end-of-support day, `None`
/// when the build is unknown.
pub fn out_of_support(major: u8, minor: u8, build: u16, today: Date) -> Option<bool> {
    let eos = lookup(major, minor, build)?.end_of_support_date()?;
    Some(today > eos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn table_is_sorted_unique_and_dates_are_valid() {
        for pair in RELEASES.windows(2) {
            assert!(
                pair[0].build < pair[1].build,
                "{} then {}",
                pair[0].build,
                pair[1].build
            );
        }
        for r in RELEASES {
            assert!(r.end_of_support_date().is_some(), "{}", r.name);
        }
    }

    #[test]
    fn known_builds_from_the_facts() {
        let expect = [
            (6, 1, 7601, "Windows 7 SP1 / Server 2008 R2 SP1"),
            (6, 2, 9200, "Windows 8 / Server 2012"),
            (6, 3, 9600, "Windows 8.1 / Server 2012 R2"),
            (10, 0, 10240, "Windows 10 1507 / LTSB 2015"),
            (10, 0, 14393, "Windows 10 1607 / Server 2016"),
            (10, 0, 17763, "Windows 10 1809 / Server 2019"),
            (10, 0, 19045, "Windows 10 22H2"),
            (10, 0, 20348, "Windows Server 2022"),
            (10, 0, 22631, "Windows 11 23H2"),
            (10, 0, 26100, "Windows 11 24H2 / Server 2025"),
        ];
        for (major, minor, build, name) in expect {
            assert_eq!(release_name(major, minor, build), name);
        }
        for build in [
            10586, 15063, 16299, 17134, 18362, 18363, 19041, 19042, 19043, 19044, 22000, 22621,
        ] {
            assert!(lookup(10, 0, build).is_some(), "{build}");
        }
    }

    #[test]
    fn unknown_builds_are_never_guessed() {
        assert_eq!(release_name(10, 0, 17764), "unknown build 17764");
        assert_eq!(release_name(10, 0, 7601), "unknown build 7601");
        assert_eq!(out_of_support(10, 0, 65000, date!(2030 - 01 - 01)), None);
    }

    #[test]
    fn shared_builds_take_the_later_date() {
        // 17763: Windows 10 1809 Enterprise ended 2021-05-11, Server 2019 ends 2029-01-09.
        let r = lookup(10, 0, 17763).expect("17763");
        assert_eq!(r.end_of_support, (2029, 1, 9));
        assert_eq!(
            out_of_support(10, 0, 17763, date!(2025 - 06 - 01)),
            Some(false)
        );
        assert_eq!(
            out_of_support(10, 0, 17763, date!(2029 - 01 - 09)),
            Some(false)
        );
        assert_eq!(
            out_of_support(10, 0, 17763, date!(2029 - 01 - 10)),
            Some(true)
        );
        // 9600: Windows 8.1 ended 2023-01-10, Server 2012 R2 on 2023-10-10.
        assert_eq!(
            out_of_support(6, 3, 9600, date!(2023 - 06 - 01)),
            Some(false)
        );
        assert_eq!(
            out_of_support(6, 1, 7601, date!(2025 - 06 - 01)),
            Some(true)
        );
    }
}
