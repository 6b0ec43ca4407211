export function Logo() {
  return (
    <svg className="logo" viewBox="0 0 32 32" width="36" height="36" aria-hidden="true" focusable="false">
      <rect width="32" height="32" rx="9" fill="var(--accent)" />
      <path
        d="M9 11.5a3.5 3.5 0 0 1 3.5-3.5h7A3.5 3.5 0 0 1 23 11.5v4a3.5 3.5 0 0 1-3.5 3.5H15l-4.2 3.3c-.5.4-1.3 0-1.3-.6V18.6A3.5 3.5 0 0 1 9 15.5z"
        fill="#fff"
      />
      <circle cx="13" cy="13.5" r="1.3" fill="var(--accent)" />
      <circle cx="16" cy="13.5" r="1.3" fill="var(--accent)" />
      <circle cx="19" cy="13.5" r="1.3" fill="var(--accent)" />
    </svg>
  );
}
