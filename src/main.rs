fn main() -> std::process::ExitCode {
    rdpsweep::cli::main()
}
