; Inno Setup 6 script for cnndesk on Windows (a template: not built or tried on these Linux machines).
;
; 1. On Windows, build the one-folder app:  py -3.11 -m venv build\venv, pip install as build.sh
;    does, then  build\venv\Scripts\pyinstaller --noconfirm packaging\cnndesk.spec
;    -> dist\cnndesk\cnndesk.exe (console: CLI, --self-test) and dist\cnndesk\cnndeskw.exe (windowed)
; 2. Make resources\cnndesk.ico from resources\cnndesk.png (for example Pillow:
;    Image.open("cnndesk.png").save("cnndesk.ico", sizes=[(16,16),(32,32),(48,48),(256,256)])).
; 3. dist\cnndesk\cnndesk.exe --self-test   (prints ok)
; 4. "C:\Program Files (x86)\Inno Setup 6\ISCC.exe" packaging\windows\cnndesk.iss
;    -> dist\installer\cnndesk-0.1.0-setup.exe   (ISCC /DVariant=cpu for dist\cnndesk-cpu)
;
; Paths are relative to this file.

#ifndef Variant
  #define Variant "cuda"
#endif
#define AppName "cnndesk"
#define AppVersion "0.1.0"
#define AppExe "cnndeskw.exe"
#if Variant == "cpu"
  #define DistDir "..\..\dist\cnndesk-cpu"
  #define Suffix "-cpu"
#else
  #define DistDir "..\..\dist\cnndesk"
  #define Suffix ""
#endif

[Setup]
; A fixed AppId keeps upgrades and the uninstaller tied to one product: never change it.
AppId={{6F0C2C53-8A3B-4C8E-9C1E-3D2B7A9E51C4}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=cnndesk
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; Per-user install by default (no administrator needed); the dialog offers all users.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist\installer
OutputBaseFilename={#AppName}{#Suffix}-{#AppVersion}-setup
SetupIconFile=..\..\resources\cnndesk.ico
UninstallDisplayIcon={app}\{#AppExe}
; torch's DLLs are gigabytes: lzma2 at a moderate level compresses them in minutes, not an hour;
; no solid compression (it would hold the whole bundle in memory).
Compression=lzma2/normal
SolidCompression=no
; Required once the compressed files pass 4.2 GB (CUDA torch can): then ship setup.exe + .bin files.
DiskSpanning=no
WizardStyle=modern
ChangesEnvironment=no

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
; The whole PyInstaller folder: cnndesk.exe, cnndeskw.exe and _internal\ (torch, Qt, Python).
Source: "{#DistDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[InstallDelete]
; An upgrade replaces the bundle whole: stale DLLs of an older torch must not stay beside the new.
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

; The user's libraries, models and settings live in the user's data folder (platformdirs), not in
; {app}: uninstalling removes the program only.
